// The public face of the engine: parse a Jinja2 template once, render it many times from any
// thread. Supports the subset of Jinja2 that Hugging Face chat templates use.
#pragma once

#include "dynamo/jinja/lexer.hpp"
#include "dynamo/jinja/renderer.hpp"
#include "dynamo/jinja/text.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace dynamo::jinja {

struct template_ast;

/// Environment options, as in jinja2.Environment (both off by default, as in Jinja2).
using template_options = lexer_options;

/// A parsed template. Immutable and cheap to copy; render() may run on many threads at once.
class compiled_template {
public:
  /// Parses `source`. Errors: invalid_request "template syntax error at line L, column C: ..."
  /// naming what was expected or the unsupported construct. Any thread.
  static caf::expected<compiled_template> parse(std::string_view source,
                                                const template_options& options = {});

  /// Renders with the variables of `context` (a JSON object; other JSON is treated as no
  /// variables). Errors, all invalid_request: the message of raise_exception(message) verbatim;
  /// "template error at line L, column C: ..." for runtime failures and exceeded limits.
  /// Any thread.
  caf::expected<std::string> render(const json& context, const render_options& options = {}) const;

  /// As above, sharing `context` instead of copying it.
  caf::expected<std::string> render(std::shared_ptr<const json> context,
                                    const render_options& options = {}) const;

private:
  explicit compiled_template(std::shared_ptr<const template_ast> ast) : ast_(std::move(ast)) {
  }

  std::shared_ptr<const template_ast> ast_;
};

} // namespace dynamo::jinja
