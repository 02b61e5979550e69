// Internal failure signalling of the template engine. The lexer, parser and renderer are deeply
// recursive; they throw `template_error` and the public entry points (template.cpp) convert it
// into a caf::error. Nothing here crosses the module boundary.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace dynamo::jinja {

/// What kind of failure a template_error reports.
enum class failure : uint8_t {
  syntax,   ///< The template source is malformed or uses unsupported syntax.
  runtime,  ///< Rendering failed: undefined call, type error, bad argument.
  raised,   ///< The template called raise_exception(message).
  limit,    ///< A resource limit (output size, iterations, recursion) was hit.
};

/// A source position, 1-based; line 0 means unknown.
struct source_pos {
  uint32_t line = 0;    ///< 1-based line, 0 if unknown.
  uint32_t column = 0;  ///< 1-based column (bytes), 0 if unknown.
};

/// Thrown inside the engine; caught by compiled_template::parse/render. Any thread.
class template_error : public std::runtime_error {
public:
  /// A failure of `kind` with a human-readable `message` at `pos`.
  template_error(failure kind, std::string message, source_pos pos = {})
    : std::runtime_error(message), kind_(kind), message_(std::move(message)), pos_(pos) {
  }

  /// The failure class.
  failure kind() const noexcept { return kind_; }

  /// The message without position.
  const std::string& message() const noexcept { return message_; }

  /// Where it happened (line 0 when unknown).
  source_pos pos() const noexcept { return pos_; }

  /// Attaches a position if none is known yet.
  void set_pos_if_unknown(source_pos pos) noexcept {
    if (pos_.line == 0)
      pos_ = pos;
  }

private:
  failure kind_;
  std::string message_;
  source_pos pos_;
};

/// Throws a runtime template_error with `message`.
[[noreturn]] inline void fail(std::string message) {
  throw template_error(failure::runtime, std::move(message));
}

} // namespace dynamo::jinja
