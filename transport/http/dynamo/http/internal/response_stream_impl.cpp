#include "dynamo/http/internal/response_stream_impl.hpp"

#include <utility>

namespace dynamo::http::internal {

namespace {

void run_callback(const std::function<void()>& callback, const logger_ptr& log) {
  try {
    callback();
  } catch (const std::exception& e) {
    log->error("on_disconnect callback threw: {}", e.what());
  } catch (...) {
    log->error("on_disconnect callback threw a non-standard exception");
  }
}

std::string internal_error_body() {
  return error_body("internal error: the server produced an invalid response status",
                    "server_error", "internal_error");
}

} // namespace

response_sink::~response_sink() = default;

response_stream_impl::response_stream_impl(std::shared_ptr<loop::loop_bridge> bridge, logger_ptr log)
  : bridge_(std::move(bridge)), log_(std::move(log)) {
}

response_stream_impl::~response_stream_impl() = default;

void response_stream_impl::respond(int status, std::string content_type, std::string body,
                                   header_list extra_headers) {
  if (!is_valid_status(status)) {
    log_->error("handler responded with invalid status {}; sending 500", status);
    enqueue(respond_op{500, "application/json", internal_error_body(), {}}, phase::fresh,
            phase::closed, "respond");
    return;
  }
  enqueue(respond_op{status, std::move(content_type), std::move(body), std::move(extra_headers)},
          phase::fresh, phase::closed, "respond");
}

void response_stream_impl::start_stream(int status, std::string content_type,
                                        header_list extra_headers) {
  if (!is_valid_status(status)) {
    log_->error("handler started a stream with invalid status {}; using 500", status);
    status = 500;
  }
  enqueue(start_op{status, std::move(content_type), std::move(extra_headers)}, phase::fresh,
          phase::streaming, "start_stream");
}

void response_stream_impl::write(std::string chunk) {
  if (chunk.empty())
    return;
  enqueue(write_op{std::move(chunk)}, phase::streaming, phase::streaming, "write");
}

void response_stream_impl::finish() {
  enqueue(finish_op{}, phase::streaming, phase::closed, "finish");
}

void response_stream_impl::enqueue(response_op op, phase expected, phase next, const char* what) {
  bool post = false;
  bool misuse = false;
  {
    std::lock_guard guard{mutex_};
    if (disconnected_.load(std::memory_order_relaxed) || completed_)
      return;
    if (phase_ != expected) {
      // Calls after respond()/finish() are documented as ignored; anything else is misuse.
      misuse = phase_ != phase::closed;
    } else {
      phase_ = next;
      pending_.push_back(std::move(op));
      post = !std::exchange(drain_posted_, true);
    }
  }
  if (misuse)
    log_->warn("response_stream::{} called out of order; ignored", what);
  if (post)
    bridge_->post([self = shared_from_this()] { self->drain(); });
}

void response_stream_impl::drain() {
  std::vector<response_op> ops;
  {
    std::lock_guard guard{mutex_};
    drain_posted_ = false;
    ops.swap(pending_);
  }
  if (sink_ != nullptr && !ops.empty())
    sink_->apply(std::move(ops));
}

void response_stream_impl::on_disconnect(std::function<void()> callback) {
  if (!callback)
    return;
  {
    std::lock_guard guard{mutex_};
    if (completed_)
      return;
    if (!disconnected_.load(std::memory_order_relaxed)) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  run_callback(callback, log_);
}

bool response_stream_impl::disconnected() const {
  return disconnected_.load(std::memory_order_acquire);
}

void response_stream_impl::attach(response_sink* sink) {
  sink_ = sink;
}

void response_stream_impl::detach() {
  sink_ = nullptr;
}

void response_stream_impl::mark_completed() {
  std::vector<std::function<void()>> dropped;
  {
    std::lock_guard guard{mutex_};
    completed_ = true;
    phase_ = phase::closed;
    pending_.clear();
    dropped.swap(callbacks_);
  }
}

void response_stream_impl::fire_disconnect() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard guard{mutex_};
    if (completed_ || disconnected_.load(std::memory_order_relaxed))
      return;
    disconnected_.store(true, std::memory_order_release);
    phase_ = phase::closed;
    pending_.clear();
    callbacks.swap(callbacks_);
  }
  for (const auto& callback : callbacks)
    run_callback(callback, log_);
}

} // namespace dynamo::http::internal
