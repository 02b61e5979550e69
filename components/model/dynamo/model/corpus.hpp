// The built-in English training corpus of the synthesizer's tokenizers: original prose,
// dialogue, numbers, code-like lines and a little Unicode.
#pragma once

#include <string_view>

namespace dynamo::model {

/// The corpus text (UTF-8, about 20 KB, static storage). Any thread.
std::string_view training_corpus() noexcept;

} // namespace dynamo::model
