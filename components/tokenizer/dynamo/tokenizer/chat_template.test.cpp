#include "dynamo/tokenizer/chat_template.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace dynamo::tokenizer {
namespace {

TEST(simple_chat_template, renders_each_message_and_the_generation_prompt) {
  simple_chat_template tmpl;
  std::vector<chat_message> messages{{"system", "Be brief."}, {"user", "Hi!"}};
  auto with_prompt = tmpl.render(messages, true);
  ASSERT_TRUE(with_prompt) << describe(with_prompt.error());
  EXPECT_EQ(*with_prompt, "<|system|>\nBe brief.\n<|user|>\nHi!\n<|assistant|>\n");
  auto without_prompt = tmpl.render(messages, false);
  ASSERT_TRUE(without_prompt) << describe(without_prompt.error());
  EXPECT_EQ(*without_prompt, "<|system|>\nBe brief.\n<|user|>\nHi!\n");
}

TEST(simple_chat_template, accepts_every_known_role) {
  simple_chat_template tmpl;
  std::vector<chat_message> messages{{"system", "s"},    {"developer", "d"}, {"user", "u"},
                                     {"assistant", "a"}, {"tool", "t"}};
  auto out = tmpl.render(messages, false);
  ASSERT_TRUE(out) << describe(out.error());
  EXPECT_EQ(*out, "<|system|>\ns\n<|developer|>\nd\n<|user|>\nu\n<|assistant|>\na\n<|tool|>\nt\n");
}

TEST(simple_chat_template, renders_an_empty_conversation) {
  simple_chat_template tmpl;
  auto out = tmpl.render({}, true);
  ASSERT_TRUE(out) << describe(out.error());
  EXPECT_EQ(*out, "<|assistant|>\n");
}

TEST(simple_chat_template, rejects_an_unknown_role) {
  simple_chat_template tmpl;
  std::vector<chat_message> messages{{"user", "ok"}, {"User", "wrong case"}};
  auto out = tmpl.render(messages, true);
  ASSERT_FALSE(out);
  EXPECT_EQ(classify(out.error()), errc::invalid_request);
  EXPECT_NE(client_message(out.error()).find("messages[1]"), std::string::npos)
    << client_message(out.error());
}

TEST(chat_roles, known_roles_are_exactly_the_openai_ones) {
  for (auto role : {"system", "user", "assistant", "tool", "developer"})
    EXPECT_TRUE(is_known_role(role)) << role;
  for (auto role : {"", "function", "USER", "assistant "})
    EXPECT_FALSE(is_known_role(role)) << role;
}

} // namespace
} // namespace dynamo::tokenizer
