// The loop-side state of one HTTP request: reads the body within the limit, calls the handler,
// and turns the stream's queued operations into kj response writes (at most one write in
// flight, queued chunks coalesced). Its promise resolves once the response was handed to kj;
// kj dropping that promise (client gone) is reported as a disconnect.
#pragma once

#include "dynamo/http/internal/connection_stream.hpp"
#include "dynamo/http/internal/response_stream_impl.hpp"
#include "dynamo/http/server.hpp"
#include "dynamo/loop/loop_bridge.hpp"
#include "dynamo/log.hpp"

#include <kj/compat/http.h>

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace dynamo::http::internal {

/// What every request of one server shares. Owned by the loop; loop thread only.
struct loop_env {
  const kj::HttpHeaderTable& table;       ///< Header table of the kj HttpServer.
  const handler& on_request;              ///< The server's request handler.
  logger_ptr log;                         ///< The server's logger.
  size_t max_body_bytes;                  ///< Request bodies above this get 413.
  std::shared_ptr<loop::loop_bridge> bridge;    ///< Where response streams post their operations.
  std::atomic<size_t>& active_requests;   ///< Requests whose response has not completed.
  bool& close_next_response;  ///< Read by HttpServerCallbacks::shouldClose() during send().
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

/// One request from arrival to response completion. Loop thread only.
class request_context final : public response_sink, private kj::TaskSet::ErrorHandler {
public:
  /// Counts the request as active. `close_after` closes the connection after the response.
  request_context(loop_env& env, connection_stream& conn, kj::HttpService::Response& response,
                  kj::HttpMethod method, bool close_after);

  /// Fires on_disconnect if the response did not complete, and stops counting the request.
  ~request_context() noexcept override;

  request_context(const request_context&) = delete;
  request_context& operator=(const request_context&) = delete;

  /// Reads the body from `body` (413 beyond max_body_bytes, 400 for a malformed body; answers
  /// "Expect: 100-continue" with an interim 100 response first), then
  /// calls the handler; resolves once the response is complete, rejects with DISCONNECTED when
  /// the client went away. `body` must stay valid until the promise settles.
  kj::Promise<void> run(kj::AsyncInputStream& body, request req);

  /// Queues operations from the stream and writes what can be written.
  void apply(std::vector<response_op> ops) override;

private:
  kj::Promise<void> read_body(kj::AsyncInputStream& body);

  void dispatch(request req);

  void reject(int status, std::string_view message, std::string_view code);

  void pump();

  void send_complete(respond_op op);

  void send_stream_head(start_op op);

  kj::Own<kj::AsyncOutputStream> send_head(int status, const std::string& content_type,
                                           const header_list& headers,
                                           kj::Maybe<uint64_t> body_size);

  void start_write(bool finish_after);

  void complete();

  void abandon(std::string_view why);

  void fail(std::string_view what);

  /// The common end of abandon() and fail(): stop watching, tell the handler, reject `done_`.
  void end_unsuccessfully(kj::Exception reason);

  void release_count() noexcept;

  void taskFailed(kj::Exception&& exception) override;

  loop_env& env_;
  connection_stream& conn_;
  kj::HttpService::Response& response_;
  kj::HttpMethod method_;
  bool close_after_;
  bool counted_ = true;
  bool finished_ = false;
  bool write_in_flight_ = false;
  bool discard_body_ = false;
  std::string body_;
  std::shared_ptr<response_stream_impl> stream_;
  std::deque<response_op> queue_;
  std::optional<start_op> buffered_head_;  // HTTP/1.0 stream, sent whole at finish()
  std::string buffered_body_;
  std::string write_buf_;
  kj::Own<kj::PromiseFulfiller<void>> done_;
  kj::Own<kj::AsyncOutputStream> body_out_;
  kj::TaskSet tasks_;  // last: destroyed first, before the streams its writes use
};

#pragma GCC diagnostic pop

} // namespace dynamo::http::internal
