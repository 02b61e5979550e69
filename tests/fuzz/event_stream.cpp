// Fuzz target: what an event subscriber does with the envelope of messages from the network:
// subject validation and pattern matching (is_valid_subject, is_valid_pattern, subject_matches)
// and per-publisher gap detection (sequence_tracker), checked against a reference model.
// Input: the first line is a subscription pattern; every further line is a message
// "<subject> <publisher> <sequence>" or "forget <publisher>".
#include "dynamo/fuzz/check.hpp"
#include "dynamo/plane/event.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace {

std::string_view next_word(std::string_view& line) {
  auto sp = line.find(' ');
  auto word = line.substr(0, sp);
  line.remove_prefix(sp == std::string_view::npos ? line.size() : sp + 1);
  return word;
}

/// The reference: the highest sequence per publisher, duplicates, and the sum of gaps.
struct model {
  std::map<std::string, uint64_t, std::less<>> last;
  uint64_t duplicates = 0;
  uint64_t missing = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using dynamo::fuzz::as_text;
  auto text = as_text(data, size);
  auto take_line = [&text] {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    return line;
  };
  auto pattern = take_line();
  bool pattern_ok = dynamo::is_valid_pattern(pattern);
  if (dynamo::is_valid_subject(pattern))
    DYNAMO_FUZZ_CHECK(pattern_ok && dynamo::subject_matches(pattern, pattern),
                      "a valid subject is a pattern matching itself");
  dynamo::sequence_tracker tracker;
  model ref;
  while (!text.empty()) {
    auto line = take_line();
    auto subject = next_word(line);
    auto publisher = std::string{next_word(line)};
    if (subject == "forget") {
      tracker.forget(publisher);
      ref.last.erase(publisher);
      DYNAMO_FUZZ_CHECK(tracker.last_sequence(publisher) == 0, "forget resets a publisher");
      continue;
    }
    bool valid = dynamo::is_valid_subject(subject);
    bool matches = dynamo::subject_matches(pattern, subject);
    DYNAMO_FUZZ_CHECK(!matches || (valid && pattern_ok), "only valid subjects match valid patterns");
    if (valid)
      DYNAMO_FUZZ_CHECK(dynamo::subject_matches(">", subject), "'>' matches every valid subject");
    uint64_t seq = 0;
    std::from_chars(line.data(), line.data() + line.size(), seq);
    dynamo::event_message m{std::string{subject}, publisher, seq, {}};
    auto gap = tracker.observe(m);
    auto& last = ref.last[publisher];
    if (seq <= last) {
      ++ref.duplicates;
      DYNAMO_FUZZ_CHECK(!gap, "an old sequence reveals no gap");
    } else {
      if (seq > last + 1) {
        DYNAMO_FUZZ_CHECK(gap && gap->publisher == publisher && gap->first_missing == last + 1
                            && gap->last_missing == seq - 1,
                          "a jump reveals exactly the skipped range");
        ref.missing += seq - 1 - last;
      } else {
        DYNAMO_FUZZ_CHECK(!gap, "the next sequence reveals no gap");
      }
      last = seq;
    }
    DYNAMO_FUZZ_CHECK(tracker.last_sequence(publisher) == last, "last_sequence is the highest");
    DYNAMO_FUZZ_CHECK(tracker.duplicates() == ref.duplicates, "duplicates are counted");
    DYNAMO_FUZZ_CHECK(tracker.missing() == ref.missing, "missing is the sum of gap sizes");
  }
  return 0;
}
