// The thread-safe response_stream handed to handlers. Its methods validate the call sequence,
// queue operations and post one drain per batch onto the event loop through the loop_bridge;
// the loop hands them to the request's response_sink. No kj here.
#pragma once

#include "dynamo/http/internal/response_ops.hpp"
#include "dynamo/http/server.hpp"
#include "dynamo/loop/loop_bridge.hpp"
#include "dynamo/log.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace dynamo::http::internal {

/// The loop-side consumer of a stream's operations (implemented by request_context).
class response_sink {
public:
  virtual ~response_sink();

  /// Applies `ops`, the next operations of the sequence respond | start write* finish (the
  /// stream validated the order). Loop thread only.
  virtual void apply(std::vector<response_op> ops) = 0;
};

/// response_stream implementation shared between a handler (any thread) and the event loop.
class response_stream_impl final : public response_stream,
                                   public std::enable_shared_from_this<response_stream_impl> {
public:
  /// Makes a stream whose operations are posted through `bridge`. Any thread.
  response_stream_impl(std::shared_ptr<loop::loop_bridge> bridge, logger_ptr log);
  ~response_stream_impl() override;

  /// See response_stream. Any thread.
  void respond(int status, std::string content_type, std::string body,
               header_list extra_headers = {}) override;
  /// See response_stream. Any thread.
  void start_stream(int status, std::string content_type, header_list extra_headers = {}) override;
  /// See response_stream; empty chunks are skipped. Any thread.
  void write(std::string chunk) override;
  /// See response_stream. Any thread.
  void finish() override;
  /// See response_stream; a callback registered after the response completed is dropped.
  /// Any thread.
  void on_disconnect(std::function<void()> callback) override;
  /// See response_stream. Any thread.
  bool disconnected() const override;

  /// Connects the loop-side consumer; operations queued before are delivered on the next drain.
  /// Loop thread only.
  void attach(response_sink* sink);

  /// Disconnects the consumer; later operations are dropped. Loop thread only.
  void detach();

  /// Marks the response as delivered: later calls are ignored and on_disconnect never fires.
  /// Loop thread only.
  void mark_completed();

  /// Marks the client as gone and runs the on_disconnect callbacks, at most once over the
  /// stream's life. Loop thread only.
  void fire_disconnect();

private:
  enum class phase : uint8_t { fresh, streaming, closed };

  /// Queues `op` if the stream is in `expected` phase, moving it to `next`; logs misuse.
  void enqueue(response_op op, phase expected, phase next, const char* what);

  /// Hands queued operations to the sink. Loop thread only (posted through the bridge).
  void drain();

  std::shared_ptr<loop::loop_bridge> bridge_;
  logger_ptr log_;
  mutable std::mutex mutex_;
  phase phase_ = phase::fresh;
  bool completed_ = false;
  bool drain_posted_ = false;
  std::vector<response_op> pending_;
  std::vector<std::function<void()>> callbacks_;
  std::atomic<bool> disconnected_{false};
  response_sink* sink_ = nullptr;  // loop thread only
};

} // namespace dynamo::http::internal
