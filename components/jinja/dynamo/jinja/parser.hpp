// The parser: tokens -> syntax tree, following Jinja2's grammar and operator precedence.
#pragma once

#include "dynamo/jinja/ast.hpp"
#include "dynamo/jinja/lexer.hpp"

#include <string_view>

namespace dynamo::jinja {

/// Maximum nesting of expressions and blocks the parser accepts (guards the C++ stack).
inline constexpr size_t max_parse_depth = 128;

/// Parses `source`. Throws template_error(failure::syntax) naming line/column and what was
/// expected; unsupported tags (include, extends, import, block, raw, ...) are reported as
/// "unsupported tag 'include'". Any thread.
template_ast parse_template(std::string_view source, const lexer_options& options);

} // namespace dynamo::jinja
