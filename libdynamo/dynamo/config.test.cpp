#include "dynamo/config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace dynamo {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using env_map = std::map<std::string, std::string>;

/// Parses `args` as if they followed the program name on the command line.
caf::error parse(option_set& opts, std::vector<std::string> args, const env_map& env = {}) {
  std::vector<const char*> argv{"prog"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return opts.parse(static_cast<int>(argv.size() - 1), argv.data(), env);
}

/// A JSON file in the test temp dir, removed on destruction.
class temp_file {
public:
  explicit temp_file(const std::string& contents) {
    static std::atomic<int> counter{0};
    path_ = ::testing::TempDir() + "dynamo_config_test_" + std::to_string(::getpid()) + "_"
            + std::to_string(counter++) + ".json";
    std::ofstream out{path_};
    out << contents;
  }
  ~temp_file() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// Every supported type, with defaults.
struct all_types {
  bool flag = false;
  int32_t i32 = -1;
  int64_t i64 = 0;
  uint16_t port = 8080;
  uint32_t u32 = 7;
  uint64_t u64 = 0;
  size_t workers = 4;
  double ratio = 0.5;
  float temp = 1.0f;
  std::string host = "localhost";
  std::vector<std::string> tags;
  std::chrono::milliseconds timeout{2000};

  void bind(option_set& opts) {
    opts.add(flag, "debug.flag", "a flag", "T_FLAG")
      .add(i32, "num.i32", "a signed int", "T_I32")
      .add(i64, "num.i64", "a signed 64-bit int")
      .add(port, "http.port", "the port", "T_PORT")
      .add(u32, "num.u32", "an unsigned int")
      .add(u64, "num.u64", "an unsigned 64-bit int")
      .add(workers, "workers", "worker count", "T_WORKERS")
      .add(ratio, "num.ratio", "a double", "T_RATIO")
      .add(temp, "num.temp", "a float")
      .add(host, "http.host", "the host", "T_HOST")
      .add(tags, "tags", "some tags", "T_TAGS")
      .add(timeout, "http.timeout", "a timeout", "T_TIMEOUT");
    opts.alias("port", "http.port");
  }
};

std::string message(const caf::error& err) {
  return client_message(err);
}

TEST(config, defaults_stay_when_nothing_is_given) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  ASSERT_FALSE(parse(opts, {}));
  EXPECT_EQ(v.port, 8080);
  EXPECT_EQ(v.host, "localhost");
  EXPECT_EQ(v.timeout, 2s);
  EXPECT_FALSE(opts.help_requested());
  EXPECT_TRUE(opts.positional().empty());
}

TEST(config, taken_reports_keys_and_aliases) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  EXPECT_TRUE(opts.taken("http.port"));
  EXPECT_TRUE(opts.taken("port"));
  EXPECT_FALSE(opts.taken("model"));
  opts.alias("model", "http.host");
  EXPECT_TRUE(opts.taken("model"));
}

/// Two components with the same options under their own prefixes, sharing short forms.
struct two_components {
  std::string a_engine = "reference";
  std::string b_engine = "reference";
  bool a_fast = false;
  bool b_fast = false;

  void bind(option_set& opts) {
    opts.add(a_engine, "a.engine", "engine of a").add(b_engine, "b.engine", "engine of b");
    opts.add(a_fast, "a.fast", "a flag of a").add(b_fast, "b.fast", "a flag of b");
    opts.shared_alias("engine", "a.engine").shared_alias("engine", "b.engine");
    opts.shared_alias("fast", "a.fast").shared_alias("fast", "b.fast");
  }
};

TEST(config, a_shared_alias_sets_every_key_given_for_it) {
  two_components v;
  option_set opts{"test"};
  v.bind(opts);
  EXPECT_TRUE(opts.is_shared_alias("engine"));
  EXPECT_FALSE(opts.is_shared_alias("a.engine"));
  ASSERT_FALSE(parse(opts, {"--engine", "mocker", "--fast"}));
  EXPECT_EQ(v.a_engine, "mocker");
  EXPECT_EQ(v.b_engine, "mocker");
  EXPECT_TRUE(v.a_fast);
  EXPECT_TRUE(v.b_fast);
  ASSERT_FALSE(parse(opts, {"--engine=other", "--no-fast"}));
  EXPECT_EQ(v.a_engine, "other");
  EXPECT_EQ(v.b_engine, "other");
  EXPECT_FALSE(v.a_fast);
  EXPECT_FALSE(v.b_fast);
  auto text = opts.help();
  EXPECT_NE(text.find("--a.engine <string>, --engine"), std::string::npos) << text;
  EXPECT_NE(text.find("--b.engine <string>, --engine"), std::string::npos) << text;
}

TEST(config, a_full_key_beats_a_short_alias_in_either_order) {
  two_components v;
  option_set opts{"test"};
  v.bind(opts);
  ASSERT_FALSE(parse(opts, {"--b.engine", "vllm", "--engine", "mocker"}));
  EXPECT_EQ(v.a_engine, "mocker");
  EXPECT_EQ(v.b_engine, "vllm");
  ASSERT_FALSE(parse(opts, {"--engine", "sim", "--a.engine", "x"}));
  EXPECT_EQ(v.a_engine, "x");
  EXPECT_EQ(v.b_engine, "sim");
  all_types w;
  option_set exclusive{"test"};
  w.bind(exclusive);
  ASSERT_FALSE(parse(exclusive, {"--http.port", "1000", "--port", "2000"}));
  EXPECT_EQ(w.port, 1000);
  ASSERT_FALSE(parse(exclusive, {"--port", "3000"}));
  EXPECT_EQ(w.port, 3000);
}

TEST(config, a_bad_value_through_a_shared_alias_changes_nothing) {
  two_components v;
  option_set opts{"test"};
  v.bind(opts);
  auto err = parse(opts, {"--engine", "m", "--fast=maybe"});
  ASSERT_TRUE(err);
  EXPECT_NE(message(err).find("--fast"), std::string::npos) << message(err);
  EXPECT_EQ(v.a_engine, "reference");
  EXPECT_EQ(v.b_engine, "reference");
  EXPECT_FALSE(v.a_fast);
  EXPECT_TRUE(parse(opts, {"--engine"})) << "a shared alias without its value";
}

TEST(config, file_then_environment_then_flags) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  temp_file file{R"({"http": {"port": 1000, "host": "from-file", "timeout": "5s"},
                     "workers": 9})"};
  env_map env{{"T_PORT", "2000"}, {"T_HOST", "from-env"}, {"DYN_CONFIG", file.path()}};
  ASSERT_FALSE(parse(opts, {"--http.port", "3000"}, env));
  EXPECT_EQ(v.port, 3000);          // flag beats env and file
  EXPECT_EQ(v.host, "from-env");    // env beats file
  EXPECT_EQ(v.timeout, 5s);         // file beats default
  EXPECT_EQ(v.workers, 9u);
  EXPECT_EQ(v.ratio, 0.5);          // default
}

TEST(config, config_flag_beats_dyn_config_env) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  temp_file chosen{R"({"http": {"host": "chosen"}})"};
  temp_file ignored{R"({"http": {"host": "ignored"}})"};
  ASSERT_FALSE(parse(opts, {"--config", chosen.path()}, {{"DYN_CONFIG", ignored.path()}}));
  EXPECT_EQ(v.host, "chosen");
  ASSERT_FALSE(parse(opts, {"--config=" + ignored.path()}));
  EXPECT_EQ(v.host, "ignored");
}

TEST(config, every_type_from_flags) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  ASSERT_FALSE(parse(opts, {"--debug.flag", "--num.i32=-42", "--num.i64", "-9000000000",
                            "--port", "65535", "--num.u32=4294967295", "--num.u64",
                            "18446744073709551615", "--workers=16", "--num.ratio", "0.25",
                            "--num.temp=1.5", "--http.host", "example.org", "--tags", "a, b,c",
                            "--http.timeout=250ms"}));
  EXPECT_TRUE(v.flag);
  EXPECT_EQ(v.i32, -42);
  EXPECT_EQ(v.i64, -9000000000);
  EXPECT_EQ(v.port, 65535);
  EXPECT_EQ(v.u32, 4294967295u);
  EXPECT_EQ(v.u64, 18446744073709551615u);
  EXPECT_EQ(v.workers, 16u);
  EXPECT_EQ(v.ratio, 0.25);
  EXPECT_EQ(v.temp, 1.5f);
  EXPECT_EQ(v.host, "example.org");
  EXPECT_THAT(v.tags, ElementsAre("a", "b", "c"));
  EXPECT_EQ(v.timeout, 250ms);
}

TEST(config, bool_flags) {
  bool verbose = false;
  option_set opts{"test"};
  opts.add(verbose, "verbose", "talk more");
  ASSERT_FALSE(parse(opts, {"--verbose", "file.txt"}));
  EXPECT_TRUE(verbose);
  EXPECT_THAT(opts.positional(), ElementsAre("file.txt")); // a bare flag takes no value
  ASSERT_FALSE(parse(opts, {"--verbose=false"}));
  EXPECT_FALSE(verbose);
  ASSERT_FALSE(parse(opts, {"--verbose=ON"}));
  EXPECT_TRUE(verbose);
  ASSERT_FALSE(parse(opts, {"--no-verbose"}));
  EXPECT_FALSE(verbose);
  for (auto [text, expected] : std::vector<std::pair<std::string, bool>>{
         {"1", true}, {"0", false}, {"true", true}, {"false", false}, {"yes", true},
         {"no", false}, {"on", true}, {"off", false}, {"TRUE", true}}) {
    option_set env_opts{"test"};
    bool field = !expected;
    env_opts.add(field, "f", "f", "F");
    ASSERT_FALSE(parse(env_opts, {}, {{"F", text}})) << text;
    EXPECT_EQ(field, expected) << text;
  }
}

TEST(config, every_type_from_environment) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  ASSERT_FALSE(parse(opts, {},
                     {{"T_FLAG", "yes"}, {"T_I32", "-7"}, {"T_PORT", "443"}, {"T_WORKERS", "3"},
                      {"T_RATIO", "1e-3"}, {"T_HOST", "h"}, {"T_TAGS", "x,y"},
                      {"T_TIMEOUT", "1m"}, {"UNRELATED", "ignored"}}));
  EXPECT_TRUE(v.flag);
  EXPECT_EQ(v.i32, -7);
  EXPECT_EQ(v.port, 443);
  EXPECT_EQ(v.workers, 3u);
  EXPECT_EQ(v.ratio, 1e-3);
  EXPECT_EQ(v.host, "h");
  EXPECT_THAT(v.tags, ElementsAre("x", "y"));
  EXPECT_EQ(v.timeout, 60s);
}

TEST(config, empty_environment_values_count_as_unset) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  ASSERT_FALSE(parse(opts, {}, {{"T_PORT", ""}, {"T_HOST", ""}}));
  EXPECT_EQ(v.port, 8080);
  EXPECT_EQ(v.host, "localhost");
}

TEST(config, every_type_from_file) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  temp_file file{R"({
    // comments are allowed
    "debug": {"flag": true},
    "num": {"i32": -5, "i64": -6, "u32": 7, "u64": 18446744073709551615, "ratio": 2,
            "temp": 0.125},
    "http": {"port": 9000, "host": "file-host"},
    "http.timeout": "3s",
    "workers": 2,
    "tags": ["p", "q"]
  })"};
  ASSERT_FALSE(parse(opts, {"--config", file.path()}));
  EXPECT_TRUE(v.flag);
  EXPECT_EQ(v.i32, -5);
  EXPECT_EQ(v.i64, -6);
  EXPECT_EQ(v.u32, 7u);
  EXPECT_EQ(v.u64, 18446744073709551615u);
  EXPECT_EQ(v.ratio, 2.0);
  EXPECT_EQ(v.temp, 0.125f);
  EXPECT_EQ(v.port, 9000);
  EXPECT_EQ(v.host, "file-host");
  EXPECT_EQ(v.timeout, 3s); // a dotted key works as well as nesting
  EXPECT_EQ(v.workers, 2u);
  EXPECT_THAT(v.tags, ElementsAre("p", "q"));
}

TEST(config, durations) {
  std::chrono::milliseconds d{0};
  option_set opts{"test"};
  opts.add(d, "d", "a duration");
  for (auto [text, expected] : std::vector<std::pair<std::string, std::chrono::milliseconds>>{
         {"250ms", 250ms}, {"2s", 2s}, {"1m", 1min}, {"1h", 1h}, {"1500", 1500ms}, {"0", 0ms}}) {
    ASSERT_FALSE(parse(opts, {"--d", text})) << text;
    EXPECT_EQ(d, expected) << text;
    temp_file file{fmt::format(R"({{"d": "{}"}})", text)};
    d = 0ms;
    ASSERT_FALSE(parse(opts, {"--config", file.path()})) << text;
    EXPECT_EQ(d, expected) << text;
  }
  for (std::string bad : {"2x", "-5", "s", "", "1.5s", "2 s", "99999999999999999999h"}) {
    auto err = parse(opts, {"--d=" + bad});
    EXPECT_EQ(classify(err), errc::invalid_request) << bad;
    EXPECT_THAT(message(err), HasSubstr("--d")) << bad;
  }
}

TEST(config, rejects_out_of_range_and_malformed_numbers) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  struct bad_case {
    std::vector<std::string> args;
    std::string expected;
  };
  for (const auto& c : std::vector<bad_case>{
         {{"--port", "65536"}, "--port: expected an integer in [0, 65535], got '65536'"},
         {{"--http.port=-1"}, "--http.port"},
         {{"--num.i32", "2147483648"}, "--num.i32"},
         {{"--num.u64", "18446744073709551616"}, "--num.u64"},
         {{"--workers", "12abc"}, "got '12abc'"},
         {{"--workers", " 1"}, "--workers"},
         {{"--num.ratio", "nan"}, "--num.ratio: expected a finite double"},
         {{"--num.ratio", "1e999"}, "--num.ratio"},
         {{"--num.temp", "1e39"}, "--num.temp: expected a finite float"},
         {{"--debug.flag=maybe"}, "expected one of 1/0/true/false/yes/no/on/off"},
         {{"--tags", "a,,b"}, "empty item"}}) {
    auto err = parse(opts, c.args);
    EXPECT_EQ(classify(err), errc::invalid_request) << c.args[0];
    EXPECT_THAT(message(err), HasSubstr(c.expected));
  }
}

TEST(config, command_line_errors_name_the_option) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  auto unknown = parse(opts, {"--nope=1"});
  EXPECT_EQ(classify(unknown), errc::invalid_request);
  EXPECT_THAT(message(unknown), HasSubstr("unknown option --nope"));
  EXPECT_THAT(message(parse(opts, {"-x"})), HasSubstr("unknown option -x"));
  EXPECT_THAT(message(parse(opts, {"--no-port"})), HasSubstr("unknown option --no-port"));
  EXPECT_THAT(message(parse(opts, {"--http.port"})), HasSubstr("missing value for --http.port"));
  EXPECT_THAT(message(parse(opts, {"--http.host", "--port", "1"})),
              HasSubstr("missing value for --http.host"));
  EXPECT_THAT(message(parse(opts, {"--config"})), HasSubstr("missing value for --config"));
  auto env_err = parse(opts, {}, {{"T_PORT", "http"}});
  EXPECT_THAT(message(env_err), HasSubstr("environment variable T_PORT for http.port"));
}

TEST(config, file_errors) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  auto missing = parse(opts, {"--config", "/nonexistent/dynamo.json"});
  EXPECT_EQ(classify(missing), errc::invalid_request);
  EXPECT_THAT(message(missing), HasSubstr("cannot read config file '/nonexistent/dynamo.json'"));
  EXPECT_THAT(message(parse(opts, {"--config", ::testing::TempDir()})),
              HasSubstr("cannot read config file"));
  temp_file malformed{R"({"http": {"port": 1,}})"};
  EXPECT_THAT(message(parse(opts, {"--config", malformed.path()})),
              HasSubstr("malformed config file"));
  temp_file not_object{"[1, 2]"};
  EXPECT_THAT(message(parse(opts, {"--config", not_object.path()})),
              HasSubstr("top level must be an object"));
  temp_file unknown{R"({"http": {"prot": 1}})"};
  EXPECT_THAT(message(parse(opts, {"--config", unknown.path()})),
              HasSubstr("unknown key 'http.prot'"));
  temp_file wrong_type{R"({"http": {"port": "8080"}})"};
  EXPECT_THAT(message(parse(opts, {"--config", wrong_type.path()})),
              HasSubstr("invalid value for 'http.port'"));
  temp_file twice{R"({"http": {"timeout": 1500}, "http.timeout": "3s"})"};
  EXPECT_THAT(message(parse(opts, {"--config", twice.path()})),
              HasSubstr("key 'http.timeout' is set twice"));
  temp_file fraction{R"({"workers": 1.5})"};
  EXPECT_THAT(message(parse(opts, {"--config", fraction.path()})), HasSubstr("'workers'"));
  temp_file negative{R"({"workers": -1})"};
  EXPECT_THAT(message(parse(opts, {"--config", negative.path()})), HasSubstr("'workers'"));
  temp_file bad_list{R"({"tags": ["a", 1]})"};
  EXPECT_THAT(message(parse(opts, {"--config", bad_list.path()})), HasSubstr("'tags'"));
  temp_file bad_bool{R"({"debug": {"flag": "yes"}})"};
  EXPECT_THAT(message(parse(opts, {"--config", bad_bool.path()})), HasSubstr("'debug.flag'"));
}

TEST(config, a_failed_parse_leaves_every_field_unchanged) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  temp_file file{R"({"http": {"host": "file-host"}})"};
  auto err = parse(opts, {"--config", file.path(), "--workers", "8", "--port", "99999", "pos"},
                   {{"T_TAGS", "a,b"}});
  ASSERT_TRUE(err);
  EXPECT_EQ(v.host, "localhost");
  EXPECT_EQ(v.workers, 4u);
  EXPECT_TRUE(v.tags.empty());
  EXPECT_EQ(v.port, 8080);
  EXPECT_TRUE(opts.positional().empty());
}

TEST(config, aliases) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  ASSERT_FALSE(parse(opts, {"--port", "8081"}));
  EXPECT_EQ(v.port, 8081);
  ASSERT_FALSE(parse(opts, {"--port=8082"}));
  EXPECT_EQ(v.port, 8082);
  auto err = parse(opts, {"--port=x"});
  EXPECT_THAT(message(err), HasSubstr("--port"));
}

TEST(config, positional_arguments) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  ASSERT_FALSE(parse(opts, {"first", "--port", "1", "-", "second", "--", "--port", "-h"}));
  EXPECT_EQ(v.port, 1);
  EXPECT_THAT(opts.positional(), ElementsAre("first", "-", "second", "--port", "-h"));
}

TEST(config, help_is_requested_without_assigning_anything) {
  all_types v;
  option_set opts{"test"};
  v.bind(opts);
  ASSERT_FALSE(parse(opts, {"--port", "1", "--help"}));
  EXPECT_TRUE(opts.help_requested());
  EXPECT_EQ(v.port, 8080);
  ASSERT_FALSE(parse(opts, {"--bogus", "-h"}));
  EXPECT_TRUE(opts.help_requested());
  ASSERT_FALSE(parse(opts, {}));
  EXPECT_FALSE(opts.help_requested());
}

TEST(config, help_text_lists_keys_types_defaults_env_and_aliases_by_group) {
  all_types v;
  option_set opts{"My server: serves things."};
  v.bind(opts);
  v.port = 1; // later changes do not alter the default shown
  auto text = opts.help();
  EXPECT_TRUE(text.starts_with("My server: serves things.\n"));
  EXPECT_THAT(text, HasSubstr("--help"));
  EXPECT_THAT(text, HasSubstr("--config <file>"));
  EXPECT_THAT(text, HasSubstr("DYN_CONFIG"));
  EXPECT_THAT(text, HasSubstr("\nhttp:\n"
                              "  --http.port <uint16>, --port\n"
                              "      the port\n"
                              "      default: 8080; env: T_PORT\n"));
  EXPECT_THAT(text, HasSubstr("  --http.host <string>\n"
                              "      the host\n"
                              "      default: \"localhost\"; env: T_HOST\n"));
  EXPECT_THAT(text, HasSubstr("  --http.timeout <duration>\n"
                              "      a timeout\n"
                              "      default: 2s; env: T_TIMEOUT\n"));
  EXPECT_THAT(text, HasSubstr("  --debug.flag[=<bool>]\n"
                              "      a flag\n"
                              "      default: false; env: T_FLAG\n"));
  EXPECT_THAT(text, HasSubstr("  --num.i64 <int64>\n"
                              "      a signed 64-bit int\n"
                              "      default: 0\n"));
  EXPECT_THAT(text, HasSubstr("  --tags <list>\n"
                              "      some tags\n"
                              "      default: (empty); env: T_TAGS\n"));
  EXPECT_THAT(text, HasSubstr("--workers <uint64>"));
  EXPECT_THAT(text, HasSubstr("--num.ratio <double>"));
  EXPECT_THAT(text, HasSubstr("default: 0.5"));
  // Each group appears once, in order of first appearance.
  auto debug = text.find("\ndebug:\n");
  auto num = text.find("\nnum:\n");
  auto http = text.find("\nhttp:\n");
  ASSERT_NE(debug, std::string::npos);
  ASSERT_NE(num, std::string::npos);
  ASSERT_NE(http, std::string::npos);
  EXPECT_LT(debug, num);
  EXPECT_LT(num, http);
  EXPECT_EQ(text.find("\nhttp:\n", http + 1), std::string::npos);
  // Keys without a dot are listed under general, before any group.
  EXPECT_LT(text.find("--workers"), debug);
}

TEST(config, formats_values_as_they_would_be_written) {
  EXPECT_EQ(detail::format(std::chrono::milliseconds{7200000}), "2h");
  EXPECT_EQ(detail::format(std::chrono::milliseconds{120000}), "2m");
  EXPECT_EQ(detail::format(std::chrono::milliseconds{3000}), "3s");
  EXPECT_EQ(detail::format(std::chrono::milliseconds{1500}), "1500ms");
  EXPECT_EQ(detail::format(std::chrono::milliseconds{0}), "0ms");
  EXPECT_EQ(detail::format(std::vector<std::string>{"a", "b"}), "a,b");
  EXPECT_EQ(detail::format(0.1), "0.1");
  EXPECT_EQ(detail::format(true), "true");
}

TEST(config, environment_from_envp) {
  const char* envp[] = {"A=1", "B=x=y", "EMPTY=", "NOEQUALS", "=nameless", "A=2", nullptr};
  auto env = environment_from(envp);
  EXPECT_EQ(env, (env_map{{"A", "1"}, {"B", "x=y"}, {"EMPTY", ""}}));
  EXPECT_TRUE(environment_from(nullptr).empty());
}

/// on_internal_error logs through spdlog's default logger; death tests read stderr.
void log_to_stderr() {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
    "death_test", std::make_shared<spdlog::sinks::stderr_sink_st>()));
}

using config_death = ::testing::Test;

TEST_F(config_death, programming_errors_abort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  int x = 0;
  int x2 = 0;
  bool flag = false;
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "a.b", "x").add(x, "a.b", "again");
    },
    "bound twice");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "a..b", "x");
    },
    "invalid option key");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "help", "x");
    },
    "reserved");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.alias("p", "missing");
    },
    "unknown key");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "a", "x").alias("a", "a");
    },
    "already taken");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "a", "x").add(x2, "b", "x").alias("p", "a").shared_alias("p", "b");
    },
    "already taken");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "a", "x").add(x2, "b", "x").shared_alias("p", "a").alias("p", "b");
    },
    "already taken");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "a", "x").add(flag, "b", "x").shared_alias("p", "a").shared_alias("p", "b");
    },
    "different types");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "a", "x").shared_alias("p", "a").shared_alias("p", "a");
    },
    "twice");
  EXPECT_DEATH(
    {
      log_to_stderr();
      option_set opts{"t"};
      opts.add(x, "a", "x").add(x2, "b", "x").shared_alias("a", "b");
    },
    "already taken");
}

} // namespace
} // namespace dynamo
