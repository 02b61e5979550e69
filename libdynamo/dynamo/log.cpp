#include "dynamo/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace dynamo {

namespace {

constexpr const char* pattern = "%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v";

logger_ptr build(std::string_view component, std::string_view instance,
                 const std::vector<spdlog::sink_ptr>& sinks, spdlog::level::level_enum level) {
  auto name = std::string{component} + '/' + std::string{instance};
  auto result = std::make_shared<spdlog::logger>(std::move(name), sinks.begin(), sinks.end());
  result->set_pattern(pattern);
  result->set_level(level);
  result->flush_on(spdlog::level::warn);
  return result;
}

spdlog::sink_ptr stderr_sink() {
  static auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  return sink;
}

} // namespace

log_sinks::log_sinks(std::string_view level)
  : sinks_{stderr_sink()}, level_(spdlog::level::from_str(std::string{level})) {
}

logger_ptr log_sinks::make(std::string_view component, std::string_view instance) const {
  return build(component, instance, sinks_, level_);
}

void log_sinks::set_level(std::string_view level) {
  level_ = spdlog::level::from_str(std::string{level});
}

logger_ptr default_logger(std::string_view component, std::string_view instance) {
  return build(component, instance, {stderr_sink()}, spdlog::level::info);
}

} // namespace dynamo
