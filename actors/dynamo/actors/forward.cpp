#include "dynamo/actors/forward.hpp"

#include <caf/sec.hpp>

namespace dynamo::actors {

bool never_started(const caf::error& err) {
  if (err.category() == caf::atom("system"))
    return err.code() == static_cast<uint8_t>(caf::sec::request_receiver_down);
  return classify(err) == errc::unavailable;
}

} // namespace dynamo::actors
