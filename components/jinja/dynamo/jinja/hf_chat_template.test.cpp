#include "dynamo/jinja/hf_chat_template.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace dynamo::jinja {
namespace {

using tokenizer::chat_message;

constexpr std::string_view chatml =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
  "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' "
  "}}{% endif %}";

constexpr std::string_view llama2 =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
  "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set "
  "system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] "
  "== 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
  "user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != "
  "false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
  "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
  "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif "
  "message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% "
  "endfor %}";

std::string config_with(std::string_view tmpl, std::string_view extra = "") {
  json config = json::parse(std::string{"{"} + std::string{extra} + "}");
  config["chat_template"] = std::string{tmpl};
  return config.dump();
}

TEST(hf_chat_template, renders_chatml) {
  auto tmpl = load_hf_chat_template(config_with(chatml));
  ASSERT_TRUE(tmpl) << describe(tmpl.error());
  std::vector<chat_message> messages{{"system", "Be brief."}, {"user", "Hi {{ x }} \"q\""}};
  auto out = (*tmpl)->render(messages, true);
  ASSERT_TRUE(out) << describe(out.error());
  EXPECT_EQ(*out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi {{ x }} "
                  "\"q\"<|im_end|>\n<|im_start|>assistant\n");
  auto without = (*tmpl)->render(messages, false);
  ASSERT_TRUE(without);
  EXPECT_FALSE(without->ends_with("assistant\n"));
}

TEST(hf_chat_template, renders_llama2_with_special_tokens_in_both_forms) {
  auto tmpl = load_hf_chat_template(config_with(
    llama2, R"("bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>")"));
  ASSERT_TRUE(tmpl) << describe(tmpl.error());
  std::vector<chat_message> messages{
    {"system", "Sys"}, {"user", " Hi "}, {"assistant", "Hello"}, {"user", "Bye"}};
  auto out = (*tmpl)->render(messages, true);
  ASSERT_TRUE(out) << describe(out.error());
  EXPECT_EQ(*out, "<s>[INST] <<SYS>>\nSys\n<</SYS>>\n\n Hi [/INST] Hello </s><s>[INST] Bye [/INST]");
}

TEST(hf_chat_template, raise_exception_becomes_an_invalid_request_with_its_message) {
  auto tmpl = load_hf_chat_template(config_with(llama2, R"("bos_token": "<s>", "eos_token": "</s>")"));
  ASSERT_TRUE(tmpl);
  std::vector<chat_message> messages{{"user", "a"}, {"user", "b"}};
  auto out = (*tmpl)->render(messages, true);
  ASSERT_FALSE(out);
  EXPECT_EQ(classify(out.error()), errc::invalid_request);
  EXPECT_EQ(client_message(out.error()),
            "Conversation roles must alternate user/assistant/user/assistant/...");
}

TEST(hf_chat_template, takes_the_default_entry_of_a_template_list) {
  json config;
  config["chat_template"] = json::array({json{{"name", "tool_use"}, {"template", "TOOLS"}},
                                         json{{"name", "default"}, {"template", "DEFAULT"}}});
  auto tmpl = load_hf_chat_template(config.dump());
  ASSERT_TRUE(tmpl) << describe(tmpl.error());
  auto out = (*tmpl)->render({}, false);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "DEFAULT");
  config["chat_template"].erase(1);
  auto no_default = load_hf_chat_template(config.dump());
  ASSERT_FALSE(no_default);
  EXPECT_EQ(client_message(no_default.error()),
            "no 'default' chat_template in tokenizer_config.json (found: 'tool_use')");
}

TEST(hf_chat_template, rejects_bad_configs_with_clear_errors) {
  auto missing = load_hf_chat_template(R"({"bos_token": "<s>"})");
  ASSERT_FALSE(missing);
  EXPECT_EQ(classify(missing.error()), errc::invalid_request);
  EXPECT_EQ(client_message(missing.error()), "no chat_template in tokenizer_config.json");
  auto not_json = load_hf_chat_template("{oops");
  ASSERT_FALSE(not_json);
  EXPECT_EQ(client_message(not_json.error()), "tokenizer_config.json is not valid JSON");
  auto wrong_type = load_hf_chat_template(R"({"chat_template": 5})");
  ASSERT_FALSE(wrong_type);
  EXPECT_EQ(classify(wrong_type.error()), errc::invalid_request);
  auto syntax = load_hf_chat_template(config_with("{% for x in y %}"));
  ASSERT_FALSE(syntax);
  EXPECT_NE(client_message(syntax.error()).find("line 1"), std::string::npos);
}

TEST(hf_chat_template, render_context_passes_tools_and_keeps_key_order) {
  auto compiled = compile_hf_template("{% for t in tools %}{{ t | tojson }}{% endfor %}{{ bos_token }}");
  ASSERT_TRUE(compiled);
  hf_chat_template tmpl{std::move(*compiled), json{{"bos_token", "<s>"}}};
  auto out = tmpl.render_context(json::parse(R"({"tools": [{"name": "f", "arguments": {"z": 1, "a": 2}}]})"));
  ASSERT_TRUE(out) << describe(out.error());
  EXPECT_EQ(*out, R"({"name": "f", "arguments": {"z": 1, "a": 2}}<s>)");
}

} // namespace
} // namespace dynamo::jinja
