// The running server: owns the event-loop thread and the bridge onto it. The kj objects live on
// the loop thread's stack (server_impl.cpp) and are reached only from that thread.
#pragma once

#include "dynamo/http/internal/listen_socket.hpp"
#include "dynamo/http/server.hpp"
#include "dynamo/loop/loop_bridge.hpp"
#include "dynamo/log.hpp"

#include <atomic>
#include <future>
#include <memory>
#include <thread>

namespace dynamo::http::internal {

class loop_state;

/// server implementation on kj-http: one loop thread, keep-alive connections.
class server_impl final : public server {
public:
  /// Prepares a server for `socket`; nothing runs until launch(). Any thread.
  server_impl(server_config cfg, handler h, listen_socket socket,
              std::shared_ptr<loop::loop_bridge> bridge);

  /// Stops the loop (closing every connection, firing on_disconnect of unfinished responses on
  /// the loop thread) and joins it. Must not run on the loop thread itself (a handler or
  /// callback destroying its server is a bug and aborts).
  ~server_impl() override;

  /// Starts the loop thread and returns once it is accepting. Calling thread only, once.
  /// Errors: unavailable when the loop cannot be set up.
  caf::error launch();

  /// See server. Any thread.
  uint16_t port() const override;
  /// See server. Any thread; blocks until the loop applied it (runs inline on the loop thread).
  void stop_accepting() override;
  /// See server. Any thread.
  size_t active_requests() const override;

private:
  void loop_main(std::promise<caf::error>* ready);

  server_config cfg_;
  handler handler_;
  logger_ptr log_;
  listen_socket socket_;
  uint16_t port_;
  std::shared_ptr<loop::loop_bridge> bridge_;
  std::atomic<size_t> active_{0};
  std::thread thread_;
  loop_state* loop_ = nullptr;  // loop thread only, set while the loop runs
};

} // namespace dynamo::http::internal
