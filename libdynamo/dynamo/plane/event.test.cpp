#include "dynamo/plane/event.hpp"

#include <gtest/gtest.h>

namespace dynamo {
namespace {

event_message msg(std::string publisher, uint64_t seq) {
  return event_message{"a.b", std::move(publisher), seq, {}};
}

TEST(subject, valid_subjects_are_dotted_non_empty_tokens_without_wildcards) {
  for (const char* s : {"a", "a.b", "kv.worker-1.block_stored", "A_b.9"})
    EXPECT_TRUE(is_valid_subject(s)) << s;
  for (const char* s : {"", ".", "a.", ".a", "a..b", "a.*", "a.>", "*", ">", "a b", "a\tb",
                        "a*b", "a.b>", "a\nb"})
    EXPECT_FALSE(is_valid_subject(s)) << s;
}

TEST(subject, valid_patterns_allow_whole_token_wildcards_and_a_final_greater_than) {
  for (const char* p : {"a", "*", ">", "a.*", "a.>", "*.b.*", "a.*.>"})
    EXPECT_TRUE(is_valid_pattern(p)) << p;
  for (const char* p : {"", "a.>.b", ">.a", "a*", "a.b*", "a.>>", "a..b", "a. b"})
    EXPECT_FALSE(is_valid_pattern(p)) << p;
}

TEST(subject, matches_follows_nats_semantics) {
  struct row {
    const char* pattern;
    const char* subject;
    bool match;
  };
  const row rows[] = {
    {"a.b", "a.b", true},       {"a.b", "a.c", false},     {"a.b", "a.b.c", false},
    {"a.b.c", "a.b", false},    {"a.*", "a.b", true},      {"a.*", "a", false},
    {"a.*", "a.b.c", false},    {"*.b", "a.b", true},      {"*", "a", true},
    {"*", "a.b", false},        {"a.>", "a.b", true},      {"a.>", "a.b.c.d", true},
    {"a.>", "a", false},        {">", "a", true},          {">", "a.b.c", true},
    {"a.*.>", "a.b.c", true},   {"a.*.>", "a.b", false},   {"ab.>", "a.b", false},
    {"a.b", "a.*", false},      {"a.>.b", "a.x.b", false}, {"a.b", "", false},
  };
  for (const auto& r : rows)
    EXPECT_EQ(subject_matches(r.pattern, r.subject), r.match)
      << "pattern '" << r.pattern << "' subject '" << r.subject << "'";
}

TEST(sequence_tracker, in_order_messages_reveal_no_gap) {
  sequence_tracker t;
  for (uint64_t i = 1; i <= 5; ++i)
    EXPECT_FALSE(t.observe(msg("p", i)));
  EXPECT_EQ(t.last_sequence("p"), 5u);
  EXPECT_EQ(t.missing(), 0u);
  EXPECT_EQ(t.duplicates(), 0u);
}

TEST(sequence_tracker, a_jump_reveals_the_missing_range) {
  sequence_tracker t;
  t.observe(msg("p", 1));
  auto g = t.observe(msg("p", 5));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->publisher, "p");
  EXPECT_EQ(g->first_missing, 2u);
  EXPECT_EQ(g->last_missing, 4u);
  EXPECT_EQ(t.missing(), 3u);
  EXPECT_FALSE(t.observe(msg("p", 6)));
}

TEST(sequence_tracker, a_first_message_after_one_reveals_the_start) {
  sequence_tracker t;
  auto g = t.observe(msg("late", 3));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->first_missing, 1u);
  EXPECT_EQ(g->last_missing, 2u);
}

TEST(sequence_tracker, duplicates_and_old_sequences_are_counted_not_reported) {
  sequence_tracker t;
  t.observe(msg("p", 1));
  t.observe(msg("p", 2));
  EXPECT_FALSE(t.observe(msg("p", 2)));
  EXPECT_FALSE(t.observe(msg("p", 1)));
  EXPECT_FALSE(t.observe(msg("p", 0)));
  EXPECT_EQ(t.duplicates(), 3u);
  EXPECT_EQ(t.last_sequence("p"), 2u);
}

TEST(sequence_tracker, publishers_are_tracked_independently_and_can_be_forgotten) {
  sequence_tracker t;
  t.observe(msg("a", 1));
  t.observe(msg("b", 1));
  EXPECT_FALSE(t.observe(msg("a", 2)));
  EXPECT_EQ(t.last_sequence("b"), 1u);
  EXPECT_EQ(t.last_sequence("unknown"), 0u);
  t.forget("a");
  EXPECT_EQ(t.last_sequence("a"), 0u);
  EXPECT_FALSE(t.observe(msg("a", 1))) << "a restarted publisher numbers from 1 again";
  EXPECT_EQ(t.duplicates(), 0u);
}

} // namespace
} // namespace dynamo
