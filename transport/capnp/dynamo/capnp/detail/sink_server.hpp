// Implementation detail of outgoing_call::attach_sink(): the caller-side capability that
// receives a streamed call's items and forwards them to the caller's sink actor. Not for direct
// use.
#pragma once

#include "dynamo/capnp/streams.hpp"
#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"

#include <kj/async.h>
#include <kj/debug.h>

#include <memory>
#include <utility>

namespace dynamo::capnp::detail {

// Generated Server classes have no virtual destructor; kj::heap's disposer deletes the exact
// type, so GCC's -Wnon-virtual-dtor does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

/// Serves `SinkSchema` (item/end/fail) for one stream. Loop thread.
template <class SinkSchema, class Item>
class sink_server final : public SinkSchema::Server {
public:
  sink_server(std::shared_ptr<stream_state> stream,
              std::shared_ptr<const sink_codec<Item, SinkSchema>> codec)
    : stream_(std::move(stream)), codec_(std::move(codec)) {
  }

protected:
  kj::Promise<void> item(typename SinkSchema::Server::ItemContext context) override {
    if (!stream_->open())
      return kj::READY_NOW;
    auto x = decode_guarded("stream item", [this, &context]() -> caf::expected<Item> {
      return codec_->decode(context.getParams());
    });
    if (!x) {
      // The callee sees its item call fail and stops; the caller learns why.
      auto detail = describe(x.error());
      stream_->fail(std::move(x.error()));
      return KJ_EXCEPTION(FAILED, "invalid stream item", detail.c_str());
    }
    stream_->item(std::move(*x));
    return kj::READY_NOW;
  }

  kj::Promise<void> end(typename SinkSchema::Server::EndContext) override {
    stream_->end();
    return kj::READY_NOW;
  }

  kj::Promise<void> fail(typename SinkSchema::Server::FailContext context) override {
    caf::error err;
    try {
      err = decode_error(context.getParams().getError());
    } catch (const kj::Exception& e) {
      err = make_error(errc::invalid_request, "malformed stream failure",
                       e.getDescription().cStr());
    }
    stream_->fail(std::move(err));
    return kj::READY_NOW;
  }

private:
  std::shared_ptr<stream_state> stream_;
  std::shared_ptr<const sink_codec<Item, SinkSchema>> codec_;
};

#pragma GCC diagnostic pop

} // namespace dynamo::capnp::detail
