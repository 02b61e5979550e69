// Logging: spdlog loggers named "component/instance", so every line carries both.
// No global registry: the runtime owns the sinks and hands loggers down explicitly.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo {

/// A logger; its name is "component/instance" and appears in every line.
using logger_ptr = std::shared_ptr<spdlog::logger>;

/// Log output settings, owned by the runtime and shared by all loggers it makes.
class log_sinks {
public:
  /// Logs to stderr at `level` ("trace", "debug", "info", "warn", "error", "off").
  explicit log_sinks(std::string_view level = "info");

  /// Makes a logger whose lines carry `component` and `instance`. Thread-safe.
  logger_ptr make(std::string_view component, std::string_view instance) const;

  /// Changes the level of loggers made from now on.
  void set_level(std::string_view level);

private:
  std::vector<spdlog::sink_ptr> sinks_;
  spdlog::level::level_enum level_;
};

/// A stderr logger for code that was given none (tests, tools). Lines carry component/instance.
logger_ptr default_logger(std::string_view component, std::string_view instance = "-");

} // namespace dynamo
