#include "dynamo/error.hpp"

#include <caf/sec.hpp>
#include "dynamo/log.hpp"

#include <spdlog/logger.h>

#include <array>
#include <cstdlib>

namespace dynamo {

namespace {

constexpr std::array<std::string_view, 9> names = {
  "none",      "invalid_request", "not_found",         "unavailable", "overloaded",
  "disconnected", "cancelled",    "deadline_exceeded", "internal",
};

errc classify_sec(caf::sec code) noexcept {
  switch (code) {
    case caf::sec::request_timeout:
      return errc::deadline_exceeded;
    case caf::sec::request_receiver_down:
    case caf::sec::remote_linking_failed:
    case caf::sec::cannot_connect_to_node:
    case caf::sec::socket_disconnected:
    case caf::sec::connection_timeout:
      return errc::disconnected;
    case caf::sec::invalid_argument:
      return errc::invalid_request;
    default:
      return errc::internal;
  }
}

} // namespace

std::string_view to_string(errc x) noexcept {
  auto i = static_cast<size_t>(x);
  return i < names.size() ? names[i] : std::string_view{"internal"};
}

errc errc_from_string(std::string_view name) noexcept {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name)
      return static_cast<errc>(i);
  return errc::internal;
}

caf::error make_error(errc code, std::string client_message, std::string detail) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(client_message), std::move(detail))};
}

errc classify(const caf::error& err) noexcept {
  if (!err)
    return errc::none;
  if (err.category() == error_category) {
    auto code = err.code();
    return code <= static_cast<uint8_t>(errc::internal) ? static_cast<errc>(code)
                                                         : errc::internal;
  }
  if (err.category() == caf::atom("system"))
    return classify_sec(static_cast<caf::sec>(err.code()));
  if (err.category() == caf::atom("exit"))
    return errc::disconnected;
  return errc::internal;
}

std::string client_message(const caf::error& err) {
  if (!err)
    return {};
  if (err.category() == error_category && err.context().match_elements<std::string, std::string>())
    return err.context().get_as<std::string>(0);
  switch (classify(err)) {
    case errc::none:
      return {};
    case errc::deadline_exceeded:
      return "the request timed out";
    case errc::disconnected:
      return "a backend disconnected while serving the request";
    default:
      return "internal error";
  }
}

std::string operator_detail(const caf::error& err) {
  if (!err)
    return {};
  if (err.category() == error_category && err.context().match_elements<std::string, std::string>())
    return err.context().get_as<std::string>(1);
  return caf::to_string(err);
}

std::string describe(const caf::error& err) {
  auto result = std::string{to_string(classify(err))};
  result += ": ";
  result += client_message(err);
  auto detail = operator_detail(err);
  if (!detail.empty()) {
    result += " (";
    result += detail;
    result += ')';
  }
  return result;
}

void on_internal_error(std::string_view what) {
  auto log = default_logger("core");
  log->critical("internal error: {}", what);
  log->flush();
  std::abort();
}

} // namespace dynamo
