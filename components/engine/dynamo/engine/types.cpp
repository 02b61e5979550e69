#include "dynamo/engine/types.hpp"

#include "dynamo/engine/engine.hpp"

namespace dynamo::engine {

std::string_view to_string(finish_reason x) noexcept {
  switch (x) {
    case finish_reason::length:
      return "length";
    case finish_reason::stop:
      return "stop";
    case finish_reason::cancelled:
      return "cancelled";
    case finish_reason::error:
      return "error";
    default:
      return "";
  }
}

engine::~engine() = default;

} // namespace dynamo::engine
