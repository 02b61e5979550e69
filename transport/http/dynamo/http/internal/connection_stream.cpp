#include "dynamo/http/internal/connection_stream.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string_view>

namespace dynamo::http::internal {

namespace {

constexpr auto linger_timeout = 2 * kj::SECONDS;

} // namespace

connection_stream::connection_stream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer,
                                     logger_ptr log)
  : connection_stream(kj::mv(inner), timer, std::move(log), kj::newPromiseAndFulfiller<void>()) {
}

connection_stream::connection_stream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer,
                                     logger_ptr log, kj::PromiseFulfillerPair<void> gone)
  : inner_(kj::mv(inner)),
    timer_(timer),
    log_(std::move(log)),
    gone_fulfiller_(kj::mv(gone.fulfiller)),
    gone_(gone.promise.fork()),
    tasks_(*this) {
}

connection_stream::~connection_stream() {
  log_->warn("TMP connection destroyed lingered={} eof={}", lingered_, eof_);
}

kj::Promise<size_t> connection_stream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  if (closing_)
    return linger();
  auto* out = static_cast<kj::byte*>(buffer);
  size_t n = take_buffered(out, max_bytes);
  if (n >= min_bytes)
    return n;
  return read_more(out + n, min_bytes - n, max_bytes - n).then([n](size_t m) { return n + m; });
}

kj::Promise<size_t> connection_stream::read_more(kj::byte* out, size_t min_bytes,
                                                 size_t max_bytes) {
  if (closing_)
    return linger();
  if (watch_in_flight_) {
    // The watcher owns the socket's read side until its read completes; its bytes come first.
    return wait_for_watch().then(
      [this, out, min_bytes, max_bytes] { return tryRead(out, min_bytes, max_bytes); });
  }
  KJ_IF_MAYBE (failure, failure_)
    return kj::cp(*failure);
  if (eof_)
    return size_t{0};
  return inner_->tryRead(out, min_bytes, max_bytes).then([this, out](size_t got) {
    sniff(out, got);
    return got;
  });
}

kj::Promise<void> connection_stream::wait_for_watch() {
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiting_reader_ = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

kj::Promise<size_t> connection_stream::linger() {
  if (lingered_)
    return size_t{0};
  lingered_ = true;
  // kj flushed the last response before reading again, so the FIN follows it. Draining what
  // the client still sends (e.g. the rest of a body refused with 413) keeps the kernel from
  // answering with an RST that could destroy the unread response on the client's side.
  try {
    inner_->shutdownWrite();
  } catch (const kj::Exception& e) {
    log_->debug("http connection shutdown failed: {}", e.getDescription().cStr());
    return size_t{0};
  }
  log_->warn("TMP linger start");
  auto t0 = std::chrono::steady_clock::now();
  return discard_input(max_linger_bytes)
    .then([this, t0] { log_->warn("TMP linger drained in {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()); }, [this](kj::Exception&& e) { log_->warn("TMP linger read failed {}", e.getDescription().cStr()); })
    .exclusiveJoin(timer_.afterDelay(linger_timeout).then([this] { log_->warn("TMP linger timed out"); }))
    .then([] { return size_t{0}; });
}

kj::Promise<void> connection_stream::discard_input(size_t budget) {
  buffered_.clear();
  buffered_offset_ = 0;
  if (eof_ || failure_ != nullptr || budget == 0)
    return kj::READY_NOW;
  if (watch_in_flight_)
    return wait_for_watch().then([this, budget] { return discard_input(budget); });
  return inner_->tryRead(scratch_.data(), 1, scratch_.size())
    .then([this, budget](size_t n) -> kj::Promise<void> {
      if (n == 0) {
        eof_ = true;
        return kj::READY_NOW;
      }
      return discard_input(budget > n ? budget - n : 0);
    });
}

size_t connection_stream::take_buffered(kj::byte* out, size_t max_bytes) {
  size_t available = buffered_.size() - buffered_offset_;
  size_t n = std::min(available, max_bytes);
  if (n == 0)
    return 0;
  std::memcpy(out, buffered_.data() + buffered_offset_, n);
  buffered_offset_ += n;
  if (buffered_offset_ == buffered_.size()) {
    buffered_.clear();
    buffered_offset_ = 0;
  }
  return n;
}

kj::Promise<void> connection_stream::write(const void* buffer, size_t size) {
  return inner_->write(buffer, size);
}

kj::Promise<void> connection_stream::write(
  kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  return inner_->write(pieces);
}

kj::Promise<void> connection_stream::whenWriteDisconnected() {
  return inner_->whenWriteDisconnected().exclusiveJoin(gone_.addBranch());
}

void connection_stream::shutdownWrite() {
  inner_->shutdownWrite();
}

void connection_stream::abortRead() {
  inner_->abortRead();
}

void connection_stream::getsockopt(int level, int option, void* value, kj::uint* length) {
  inner_->getsockopt(level, option, value, length);
}

void connection_stream::setsockopt(int level, int option, const void* value, kj::uint length) {
  inner_->setsockopt(level, option, value, length);
}

void connection_stream::getsockname(struct sockaddr* addr, kj::uint* length) {
  inner_->getsockname(addr, length);
}

void connection_stream::getpeername(struct sockaddr* addr, kj::uint* length) {
  inner_->getpeername(addr, length);
}

kj::Maybe<int> connection_stream::getFd() const {
  return inner_->getFd();
}

void connection_stream::start_watch() {
  watching_ = true;
  arm_watch();
}

void connection_stream::stop_watch() {
  watching_ = false;
}

void connection_stream::close_after_response() {
  closing_ = true;
  wake_reader();
}

void connection_stream::arm_watch() {
  if (!watching_ || watch_in_flight_ || eof_ || closing_ || failure_ != nullptr
      || buffered_.size() - buffered_offset_ >= max_buffered)
    return;
  watch_in_flight_ = true;
  tasks_.add(inner_->tryRead(scratch_.data(), 1, scratch_.size())
               .then([this](size_t n) { on_watch_read(n); },
                     [this](kj::Exception&& e) { on_watch_failed(kj::mv(e)); }));
}

void connection_stream::on_watch_read(size_t n) {
  watch_in_flight_ = false;
  if (n == 0) {
    eof_ = true;
    if (watching_)
      peer_gone();
  } else {
    sniff(scratch_.data(), n);
    buffered_.append(reinterpret_cast<const char*>(scratch_.data()), n);
    log_->trace("http connection kept {} bytes that arrived during a request", n);
  }
  wake_reader();
  arm_watch();
}

void connection_stream::on_watch_failed(kj::Exception&& exception) {
  watch_in_flight_ = false;
  log_->debug("http connection read failed while serving a request: {}",
              exception.getDescription().cStr());
  failure_ = kj::mv(exception);
  if (watching_)
    peer_gone();
  wake_reader();
}

void connection_stream::peer_gone() {
  if (gone_fired_)
    return;
  gone_fired_ = true;
  log_->debug("http client closed its connection while its request was being served");
  gone_fulfiller_->fulfill();
}

void connection_stream::wake_reader() {
  KJ_IF_MAYBE (waiting, waiting_reader_) {
    auto fulfiller = kj::mv(*waiting);
    waiting_reader_ = nullptr;
    fulfiller->fulfill();
  }
}

void connection_stream::sniff(const kj::byte* data, size_t n) {
  if (sniffed_ || n == 0)
    return;
  std::string_view text{reinterpret_cast<const char*>(data), n};
  auto newline = text.find('\n');
  first_line_.append(text.substr(0, newline));
  if (newline == std::string_view::npos && first_line_.size() < max_request_line)
    return;
  sniffed_ = true;
  std::string_view line{first_line_};
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.remove_suffix(1);
  constexpr std::string_view http10_suffix = " HTTP/1.0";
  http10_ = line.size() >= http10_suffix.size()
            && line.substr(line.size() - http10_suffix.size()) == http10_suffix;
  first_line_ = std::string{};
}

void connection_stream::taskFailed(kj::Exception&& exception) {
  log_->error("http connection watcher failed: {}", exception.getDescription().cStr());
}

} // namespace dynamo::http::internal
