#include "dynamo/tokenizer/regex.hpp"

#include "dynamo/error.hpp"
#include "dynamo/tokenizer/unicode.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

namespace dynamo::tokenizer {

struct regex::code {
  pcre2_code* compiled = nullptr;
  ~code() {
    pcre2_code_free(compiled);
  }
};

namespace {

struct match_data_deleter {
  void operator()(pcre2_match_data* data) const noexcept {
    pcre2_match_data_free(data);
  }
};

struct jit_stack_deleter {
  void operator()(pcre2_jit_stack* stack) const noexcept {
    pcre2_jit_stack_free(stack);
  }
};

struct context_deleter {
  void operator()(pcre2_match_context* ctx) const noexcept {
    pcre2_match_context_free(ctx);
  }
};

std::string pcre_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0)
    return fmt::format("PCRE2 error {}", code);
  return std::string{reinterpret_cast<const char*>(buffer)};
}

} // namespace

regex::regex(std::shared_ptr<const code> compiled, std::string pattern)
  : code_(std::move(compiled)), pattern_(std::move(pattern)) {
}

caf::expected<regex> regex::compile(std::string_view pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto* compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (compiled == nullptr)
    return make_error(errc::invalid_request,
                      fmt::format("invalid regex '{}' at offset {}: {}", pattern, error_offset,
                                  pcre_message(error_code)));
  auto owner = std::make_shared<code>();
  owner->compiled = compiled;
  // JIT is an optimisation: when unavailable the interpreter runs the same pattern.
  pcre2_jit_compile(compiled, PCRE2_JIT_COMPLETE);
  return regex{std::move(owner), std::string{pattern}};
}

caf::expected<regex> regex::literal(std::string_view literal) {
  std::string quoted;
  for (char c : literal) {
    auto b = static_cast<unsigned char>(c);
    if (b < 0x80 && !((b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')))
      quoted += fmt::format("\\x{{{:x}}}", b);
    else
      quoted.push_back(c);
  }
  return compile(quoted);
}

std::vector<regex::match> regex::find_all(std::string_view subject) const {
  std::vector<match> out;
  if (subject.empty())
    return out;
  std::unique_ptr<pcre2_match_data, match_data_deleter> data{
    pcre2_match_data_create_from_pattern(code_->compiled, nullptr)};
  if (!data)
    on_internal_error("pcre2_match_data_create_from_pattern failed");
  std::unique_ptr<pcre2_match_context, context_deleter> context;
  std::unique_ptr<pcre2_jit_stack, jit_stack_deleter> stack;
  auto* subject_ptr = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t pos = 0;
  while (pos < subject.size()) {
    int rc = pcre2_match(code_->compiled, subject_ptr, subject.size(), pos, PCRE2_NO_UTF_CHECK,
                         data.get(), context.get());
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !stack) {
      // Deeply backtracking input: retry once with a larger JIT stack.
      context.reset(pcre2_match_context_create(nullptr));
      stack.reset(pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr));
      if (!context || !stack)
        on_internal_error("PCRE2 JIT stack allocation failed");
      pcre2_jit_stack_assign(context.get(), nullptr, stack.get());
      continue;
    }
    if (rc < 0)
      break;
    auto* ovector = pcre2_get_ovector_pointer(data.get());
    size_t start = ovector[0];
    size_t end = ovector[1];
    if (end == start) {
      // Empty match: no piece; move on by one character.
      if (start >= subject.size())
        break;
      pos = start + next_char(subject, start).size;
      continue;
    }
    out.emplace_back(start, end);
    pos = end;
  }
  return out;
}

} // namespace dynamo::tokenizer
