#include "dynamo/http/internal/connection_stream.hpp"

#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace dynamo::http::internal {

namespace {

int64_t to_ms(kj::Duration d) {
  return d / kj::MILLISECONDS;
}

} // namespace

connection_stream::connection_stream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer,
                                     logger_ptr log, linger_limits limits)
  : connection_stream(kj::mv(inner), timer, std::move(log), limits,
                      kj::newPromiseAndFulfiller<void>()) {
}

connection_stream::connection_stream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer,
                                     logger_ptr log, linger_limits limits,
                                     kj::PromiseFulfillerPair<void> gone)
  : inner_(kj::mv(inner)),
    timer_(timer),
    log_(std::move(log)),
    limits_(limits),
    gone_fulfiller_(kj::mv(gone.fulfiller)),
    gone_(gone.promise.fork()),
    tasks_(*this) {
}

connection_stream::~connection_stream() = default;

kj::Promise<size_t> connection_stream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  if (closing_)
    return size_t{0};
  auto* out = static_cast<kj::byte*>(buffer);
  size_t n = take_buffered(out, max_bytes);
  if (n >= min_bytes)
    return n;
  return read_more(out + n, min_bytes - n, max_bytes - n).then([n](size_t m) { return n + m; });
}

kj::Promise<size_t> connection_stream::read_more(kj::byte* out, size_t min_bytes,
                                                 size_t max_bytes) {
  if (closing_)
    return size_t{0};
  if (watch_in_flight_) {
    // The watcher owns the socket's read side until its read completes; its bytes come first.
    return wait_for_watch().then(
      [this, out, min_bytes, max_bytes] { return tryRead(out, min_bytes, max_bytes); });
  }
  KJ_IF_MAYBE (failure, failure_)
    return kj::cp(*failure);
  if (eof_)
    return size_t{0};
  return inner_->tryRead(out, min_bytes, max_bytes)
    .then(
      [this, out, min_bytes](size_t got) {
        if (got < min_bytes)
          eof_ = true;
        sniff(out, got);
        return got;
      },
      [this](kj::Exception&& e) -> size_t {
        failure_ = kj::cp(e);
        kj::throwFatalException(kj::mv(e));
      });
}

kj::Promise<void> connection_stream::wait_for_watch() {
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiting_reader_ = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

kj::Promise<void> connection_stream::linger_close() {
  closing_ = true;
  watching_ = false;
  if (eof_ || failure_ != nullptr)
    return kj::READY_NOW;  // nothing more can arrive: closing cannot cause an RST
  // kj flushed the last response before it let go of the connection, so the FIN follows it.
  // Draining what the client still sends (e.g. the rest of a body refused with 413) keeps the
  // kernel from answering it with an RST that would destroy the response unread on the client.
  try {
    inner_->shutdownWrite();
  } catch (const kj::Exception& e) {
    log_->debug("http connection shutdown failed: {}", e.getDescription().cStr());
    return kj::READY_NOW;
  }
  linger_buffer_ = kj::heapArray<kj::byte>(linger_read_bytes);
  return discard_input().exclusiveJoin(
    timer_.afterDelay(limits_.max_duration).then([this] {
      log_->debug("http connection closed after lingering {} ms with the client still sending",
                  to_ms(limits_.max_duration));
    }));
}

kj::Promise<void> connection_stream::discard_input() {
  discarded_ += buffered_.size() - buffered_offset_;
  buffered_.clear();
  buffered_offset_ = 0;
  if (eof_ || failure_ != nullptr)
    return kj::READY_NOW;
  if (discarded_ >= limits_.max_bytes) {
    log_->debug("http connection closed after discarding {} bytes the client sent after the "
                "response",
                discarded_);
    return kj::READY_NOW;
  }
  kj::Promise<void> input = nullptr;
  if (watch_in_flight_) {
    // The watcher owns the read side until its read completes; on_watch_read() keeps its bytes.
    input = wait_for_watch();
  } else {
    auto want = static_cast<size_t>(
      std::min<uint64_t>(linger_buffer_.size(), limits_.max_bytes - discarded_));
    input = inner_->tryRead(linger_buffer_.begin(), 1, want)
              .then(
                [this](size_t n) {
                  discarded_ += n;
                  if (n == 0)
                    eof_ = true;
                },
                [this](kj::Exception&& e) { failure_ = kj::mv(e); });
  }
  return input.then([] { return true; })
    .exclusiveJoin(timer_.afterDelay(limits_.idle_timeout).then([] { return false; }))
    .then([this](bool progressed) -> kj::Promise<void> {
      // A starved loop can see the idle timer expire before it sees input that arrived in
      // time: the socket decides whether the client really went quiet.
      if (progressed || input_pending())
        return discard_input();
      log_->debug("http connection closed: the client sent nothing for {} ms after the response",
                  to_ms(limits_.idle_timeout));
      return kj::READY_NOW;
    });
}

bool connection_stream::input_pending() const {
  KJ_IF_MAYBE (fd, inner_->getFd()) {
    kj::byte probe = 0;
    auto n = ::recv(*fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    // Data, EOF or a pending error: the next read completes at once.
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
  return false;
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
