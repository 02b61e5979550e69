// Applies OpenAI "stop" strings to incrementally generated text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::openai {

/// Result of feeding text to a stop_matcher.
struct stop_result {
  std::string emit;      ///< Text that is now safe to send to the client.
  bool stopped = false;  ///< A stop string completed; generation should end.
};

/// Cuts generated text at the first stop string. Text arrives in arbitrary pieces; the matcher
/// holds back any suffix that could still begin a stop string, and any incomplete trailing
/// UTF-8 sequence, so the emitted text never contains (part of) a stop string and never ends
/// inside a character. When several stop strings complete, the one ending first wins (ties:
/// the longest), so the result does not depend on how the text was split. Not thread-safe.
class stop_matcher {
public:
  /// Matches `stops`; empty strings are ignored. With no stops only UTF-8 holding applies.
  explicit stop_matcher(std::vector<std::string> stops);

  /// Feeds the next piece of text. Once stopped, returns an empty emit with stopped = true.
  stop_result push(std::string_view text);

  /// Ends the text: returns everything still held back ("" once stopped).
  std::string flush();

  /// True once a stop string has completed.
  bool stopped() const noexcept { return stopped_; }

  /// The stop string that ended the text; empty while not stopped.
  const std::string& matched() const noexcept { return matched_; }

private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
};

} // namespace dynamo::openai
