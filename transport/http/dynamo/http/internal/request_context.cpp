#include "dynamo/http/internal/request_context.hpp"

#include "dynamo/http/internal/response_ops.hpp"

#include <kj/debug.h>

#include <fmt/format.h>

#include <utility>
#include <variant>

namespace dynamo::http::internal {

namespace {

constexpr size_t body_read_step = 64 * 1024;
constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

kj::StringPtr kj_view(const std::string& s) {
  return kj::StringPtr{s.c_str(), s.size()};
}

std::string describe(const kj::Exception& e) {
  return std::string{e.getDescription().cStr()};
}

} // namespace

request_context::request_context(loop_env& env, connection_stream& conn,
                                 kj::HttpService::Response& response, kj::HttpMethod method,
                                 bool close_after)
  : env_(env),
    conn_(conn),
    response_(response),
    method_(method),
    close_after_(close_after),
    tasks_(*this) {
  env_.active_requests.fetch_add(1, std::memory_order_relaxed);
}

request_context::~request_context() noexcept {
  if (stream_)
    stream_->detach();
  if (!finished_) {
    // kj dropped the request: the client went away, or the server is shutting down.
    finished_ = true;
    conn_.stop_watch();
    if (stream_) {
      env_.log->debug("http request cancelled before its response completed");
      stream_->fire_disconnect();
    }
  }
  release_count();
}

kj::Promise<void> request_context::run(kj::AsyncInputStream& body, request req) {
  auto paf = kj::newPromiseAndFulfiller<void>();
  done_ = kj::mv(paf.fulfiller);
  bool expects_body = true;
  KJ_IF_MAYBE (length, body.tryGetLength()) {
    expects_body = *length > 0;
    if (*length > env_.max_body_bytes) {
      reject(413,
             fmt::format("request body of {} bytes exceeds the limit of {} bytes", *length,
                         env_.max_body_bytes),
             "request_too_large");
      return kj::mv(paf.promise);
    }
    body_.reserve(static_cast<size_t>(*length));
  }
  kj::Promise<void> body_allowed = kj::READY_NOW;
  if (expects_body && !conn_.http10() && has_token(req.header("expect"), "100-continue")) {
    // The client waits for this before sending the body. kj flushed the previous response
    // before parsing this request and writes nothing before our response, so the interim
    // response cannot interleave with its output.
    body_allowed = conn_.write(continue_response.data(), continue_response.size());
  }
  auto dispatched = body_allowed.then([this, &body] { return read_body(body); }).then(
    [this, req = std::move(req)]() mutable {
      if (body_.size() > env_.max_body_bytes) {
        reject(413, fmt::format("request body exceeds the limit of {} bytes", env_.max_body_bytes),
               "request_too_large");
        return;
      }
      req.body = std::move(body_);
      dispatch(std::move(req));
    },
    [this](kj::Exception&& e) {
      if (e.getType() == kj::Exception::Type::DISCONNECTED) {
        abandon("client disconnected while sending the request body");
        return;
      }
      env_.log->debug("malformed http request body: {}", describe(e));
      reject(400, "malformed request body", "invalid_request_body");
    });
  return dispatched.then([done = kj::mv(paf.promise)]() mutable { return kj::mv(done); });
}

kj::Promise<void> request_context::read_body(kj::AsyncInputStream& body) {
  // Reads at most one byte past the limit: enough to tell "too large" from "exactly the limit".
  size_t limit = env_.max_body_bytes == SIZE_MAX ? SIZE_MAX : env_.max_body_bytes + 1;
  if (body_.size() >= limit)
    return kj::READY_NOW;
  size_t old_size = body_.size();
  size_t step = std::min(body_read_step, limit - old_size);
  body_.resize(old_size + step);
  return body.tryRead(body_.data() + old_size, 1, step)
    .then([this, &body, old_size](size_t n) -> kj::Promise<void> {
      body_.resize(old_size + n);
      if (n == 0)
        return kj::READY_NOW;
      return read_body(body);
    });
}

void request_context::dispatch(request req) {
  stream_ = std::make_shared<response_stream_impl>(env_.bridge, env_.log);
  stream_->attach(this);
  conn_.start_watch();
  auto fail_with_500 = [this] {
    stream_->respond(500, "application/json",
                     error_body("internal error", "server_error", "internal_error"));
  };
  try {
    env_.on_request(std::move(req), stream_);
  } catch (const std::exception& e) {
    env_.log->error("http handler threw: {}", e.what());
    fail_with_500();
  } catch (...) {
    env_.log->error("http handler threw a non-standard exception");
    fail_with_500();
  }
}

void request_context::reject(int status, std::string_view message, std::string_view code) {
  close_after_ = true;
  queue_.push_back(respond_op{status, "application/json",
                              error_body(message, "invalid_request_error", code), {}});
  pump();
}

void request_context::apply(std::vector<response_op> ops) {
  if (finished_)
    return;
  for (auto& op : ops)
    queue_.push_back(std::move(op));
  pump();
}

void request_context::pump() {
  while (!finished_ && !write_in_flight_ && !queue_.empty()) {
    auto op = std::move(queue_.front());
    queue_.pop_front();
    if (auto* whole = std::get_if<respond_op>(&op)) {
      send_complete(std::move(*whole));
    } else if (auto* head = std::get_if<start_op>(&op)) {
      send_stream_head(std::move(*head));
    } else if (auto* chunk = std::get_if<write_op>(&op)) {
      if (buffered_head_) {
        buffered_body_ += chunk->chunk;
        continue;
      }
      if (discard_body_)
        continue;
      // Coalesce every chunk queued behind this one into a single write.
      write_buf_ = std::move(chunk->chunk);
      while (!queue_.empty() && std::holds_alternative<write_op>(queue_.front())) {
        write_buf_ += std::get<write_op>(queue_.front()).chunk;
        queue_.pop_front();
      }
      start_write(false);
    } else if (buffered_head_) {
      auto buffered = std::move(*buffered_head_);
      buffered_head_.reset();
      send_complete(respond_op{buffered.status, std::move(buffered.content_type),
                               std::move(buffered_body_), std::move(buffered.headers)});
    } else {
      try {
        body_out_ = nullptr;  // ends the chunked body
      } catch (const kj::Exception& e) {
        fail(fmt::format("ending the response body failed: {}", describe(e)));
        return;
      }
      complete();
    }
  }
}

void request_context::send_complete(respond_op op) {
  bool has_body = !op.body.empty() && !is_bodyless_status(op.status)
                  && method_ != kj::HttpMethod::HEAD;
  auto out = send_head(op.status, op.content_type, op.headers, uint64_t{op.body.size()});
  if (!out)
    return;
  body_out_ = kj::mv(out);
  if (!has_body) {
    try {
      body_out_ = nullptr;
    } catch (const kj::Exception& e) {
      fail(fmt::format("ending the response body failed: {}", describe(e)));
      return;
    }
    complete();
    return;
  }
  write_buf_ = std::move(op.body);
  start_write(true);
}

void request_context::send_stream_head(start_op op) {
  if (conn_.http10()) {
    // HTTP/1.0 has no chunked encoding: collect the stream and send it whole at finish().
    buffered_head_ = std::move(op);
    return;
  }
  auto out = send_head(op.status, op.content_type, op.headers, nullptr);
  if (!out)
    return;
  body_out_ = kj::mv(out);
  discard_body_ = is_bodyless_status(op.status) || method_ == kj::HttpMethod::HEAD;
  tasks_.add(body_out_->whenWriteDisconnected().then(
    [this] { abandon("client disconnected during a streamed response"); }));
}

kj::Own<kj::AsyncOutputStream> request_context::send_head(int status,
                                                          const std::string& content_type,
                                                          const header_list& extra,
                                                          kj::Maybe<uint64_t> body_size) {
  kj::HttpHeaders headers(env_.table);
  if (!content_type.empty()) {
    if (is_valid_header_value(content_type))
      headers.set(kj::HttpHeaderId::CONTENT_TYPE, kj_view(content_type));
    else
      env_.log->warn("http response: invalid Content-Type value dropped");
  }
  for (const auto& [name, value] : extra) {
    if (!is_valid_header_name(name) || !is_valid_header_value(value)) {
      env_.log->warn("http response: invalid header '{}' dropped", name);
      continue;
    }
    if (is_connection_header(name)) {
      env_.log->warn("http response: header '{}' is managed by the server; dropped", name);
      continue;
    }
    headers.add(kj_view(name), kj_view(value));
  }
  auto text = status_text(status);
  env_.close_next_response = close_after_;
  try {
    auto out = response_.send(static_cast<kj::uint>(status),
                              kj::StringPtr{text.data(), text.size()}, headers, body_size);
    env_.close_next_response = false;
    return out;
  } catch (const kj::Exception& e) {
    env_.close_next_response = false;
    fail(fmt::format("sending the response head failed: {}", describe(e)));
    return {};
  }
}

void request_context::start_write(bool finish_after) {
  write_in_flight_ = true;
  tasks_.add(body_out_->write(write_buf_.data(), write_buf_.size())
               .then(
                 [this, finish_after] {
                   write_in_flight_ = false;
                   write_buf_.clear();
                   if (!finish_after) {
                     pump();
                     return;
                   }
                   try {
                     body_out_ = nullptr;
                   } catch (const kj::Exception& e) {
                     fail(fmt::format("ending the response body failed: {}", describe(e)));
                     return;
                   }
                   complete();
                 },
                 [this](kj::Exception&& e) {
                   write_in_flight_ = false;
                   abandon(fmt::format("response write failed: {}", describe(e)));
                 }));
}

void request_context::complete() {
  if (finished_)
    return;
  finished_ = true;
  conn_.stop_watch();
  if (close_after_)
    conn_.close_after_response();
  if (stream_)
    stream_->mark_completed();
  release_count();
  done_->fulfill();
}

void request_context::abandon(std::string_view why) {
  if (finished_)
    return;
  env_.log->debug("http request abandoned: {}", why);
  end_unsuccessfully(KJ_EXCEPTION(DISCONNECTED, "http client disconnected"));
}

void request_context::fail(std::string_view what) {
  if (finished_)
    return;
  env_.log->error("http response failed: {}", what);
  end_unsuccessfully(KJ_EXCEPTION(FAILED, "http response failed"));
}

void request_context::end_unsuccessfully(kj::Exception reason) {
  finished_ = true;
  conn_.stop_watch();
  if (stream_)
    stream_->fire_disconnect();
  release_count();
  done_->reject(kj::mv(reason));
}

void request_context::release_count() noexcept {
  if (std::exchange(counted_, false))
    env_.active_requests.fetch_sub(1, std::memory_order_relaxed);
}

void request_context::taskFailed(kj::Exception&& exception) {
  fail(fmt::format("response task failed: {}", describe(exception)));
}

} // namespace dynamo::http::internal
