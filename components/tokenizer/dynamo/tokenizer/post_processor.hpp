// The part of a Hugging Face post-processor that matters to a serving stack: the tokens it
// puts in front of a single sequence (BOS), i.e. the prompt prefix.
#pragma once

#include "dynamo/tokenizer/tokenizer.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include <vector>

namespace dynamo::tokenizer {

/// The ids tokenizer.json's "post_processor" places before $A of a single sequence:
/// TemplateProcessing's special tokens before $A, RobertaProcessing/BertProcessing's cls,
/// nothing for ByteLevel or null; a Sequence composes its processors. Any thread. Errors:
/// invalid_request naming an unsupported type or a malformed template.
caf::expected<std::vector<token_id>> prompt_prefix_from_json(const nlohmann::json& node);

} // namespace dynamo::tokenizer
