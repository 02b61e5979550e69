#include "dynamo/capnp/binding.hpp"

#include "dynamo/capnp/streams.hpp"
#include "dynamo/capnp/wire.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/message_id.hpp>
#include <caf/system_messages.hpp>

namespace dynamo::capnp {

namespace {

/// Watches one actor and reports its exit reason once.
caf::behavior lifetime_watcher(caf::event_based_actor* self, caf::actor target,
                               std::function<void(caf::error)> done) {
  self->monitor(target);
  self->set_down_handler([self, done](caf::down_msg& dm) {
    done(dm.reason);
    self->quit();
  });
  return {[](cancel_atom, request_id, cancel_kind) {}};
}

} // namespace

// -- wire helpers ---------------------------------------------------------------------------

void encode_error(const caf::error& err, rpc::Error::Builder out) {
  auto code = classify(err);
  if (code == errc::none)
    code = errc::internal;
  out.setCode(static_cast<uint8_t>(code));
  out.setMessage(as_text(client_message(err)));
  out.setDetail(as_text(operator_detail(err)));
}

caf::error decode_error(rpc::Error::Reader in) noexcept {
  try {
    auto code = in.getCode();
    auto known = code > 0 && code <= static_cast<uint8_t>(errc::internal);
    // Texts end at their first NUL, as a C reader would see them.
    return make_error(known ? static_cast<errc>(code) : errc::internal,
                      std::string{in.getMessage().cStr()}, std::string{in.getDetail().cStr()});
  } catch (const kj::Exception& e) {
    return make_error(errc::invalid_request, "malformed error on the wire",
                      e.getDescription().cStr());
  } catch (const std::exception& e) {
    return make_error(errc::internal, "cannot decode an error", e.what());
  }
}

caf::error error_from_exception(const kj::Exception& e, std::string_view context) {
  auto detail = std::string{context} + ": " + e.getDescription().cStr();
  switch (e.getType()) {
    case kj::Exception::Type::DISCONNECTED:
      return make_error(errc::disconnected, "the connection to a remote endpoint was lost",
                        std::move(detail));
    case kj::Exception::Type::OVERLOADED:
      return make_error(errc::overloaded, "a remote endpoint is overloaded", std::move(detail));
    case kj::Exception::Type::UNIMPLEMENTED:
      return make_error(errc::invalid_request,
                        "the remote endpoint does not implement this call", std::move(detail));
    default:
      return make_error(errc::internal, "a remote call failed", std::move(detail));
  }
}

caf::expected<std::string> read_text(::capnp::Text::Reader text, size_t max_bytes,
                                     std::string_view field) {
  if (text.size() > max_bytes)
    return make_error(errc::invalid_request,
                      std::string{field} + " is longer than " + std::to_string(max_bytes)
                        + " bytes");
  std::string result{text.cStr(), text.size()};
  if (result.find('\0') != std::string::npos)
    return make_error(errc::invalid_request, std::string{field} + " contains a NUL byte");
  return result;
}

// -- stream_state ---------------------------------------------------------------------------

void stream_state::end() {
  if (!open_)
    return;
  open_ = false;
  sink_->enqueue(nullptr, caf::make_message_id(), caf::make_message(stream_end_atom::value, rid_),
                 nullptr);
}

void stream_state::fail(caf::error err) {
  if (!open_)
    return;
  open_ = false;
  sink_->enqueue(nullptr, caf::make_message_id(),
                 caf::make_message(stream_fail_atom::value, rid_, std::move(err)), nullptr);
}

// -- endpoint_host --------------------------------------------------------------------------

endpoint_host::endpoint_host(caf::actor handler, std::shared_ptr<loop::loop_bridge> bridge,
                             logger_ptr log)
  : handler_(std::move(handler)), bridge_(std::move(bridge)), log_(std::move(log)) {
}

void endpoint_host::tell(caf::message msg) const {
  handler_->enqueue(nullptr, caf::make_message_id(), std::move(msg), nullptr);
}

kj::Promise<caf::error> endpoint_host::lifetime() const {
  auto paf = kj::newPromiseAndFulfiller<caf::error>();
  auto slot = std::make_shared<detail::loop_slot<caf::error>>();
  slot->fulfiller = kj::mv(paf.fulfiller);
  std::weak_ptr<detail::loop_slot<caf::error>> weak = slot;
  std::function<void(caf::error)> done = [bridge = bridge_, weak](caf::error reason) {
    detail::post_to_slot(*bridge, weak, std::move(reason));
  };
  auto watcher = handler_.home_system().spawn(lifetime_watcher, handler_, std::move(done));
  auto guard = kj::defer([slot, watcher] {
    if (!slot->settled)
      caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  });
  return paf.promise.attach(kj::mv(guard));
}

interface_binding::~interface_binding() = default;

} // namespace dynamo::capnp
