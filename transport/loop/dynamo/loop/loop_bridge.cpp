#include "dynamo/loop/loop_bridge.hpp"

#include "dynamo/error.hpp"

#include <kj/async-io.h>
#include <kj/debug.h>

#include <fmt/format.h>

#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>

namespace dynamo::loop {

caf::expected<std::shared_ptr<loop_bridge>> loop_bridge::make(logger_ptr log) {
  unique_fd fd{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  if (!fd)
    return make_error(errc::unavailable, "cannot start a kj event loop",
                      fmt::format("eventfd: {}", std::strerror(errno)));
  return std::shared_ptr<loop_bridge>{new loop_bridge(std::move(fd), std::move(log))};
}

loop_bridge::loop_bridge(unique_fd event_fd, logger_ptr log)
  : event_fd_(std::move(event_fd)), log_(std::move(log)) {
}

loop_bridge::~loop_bridge() = default;

bool loop_bridge::post(closure fn) {
  bool wake = false;
  {
    std::lock_guard guard{mutex_};
    if (closed_)
      return false;
    wake = queue_.empty();
    queue_.push_back(std::move(fn));
  }
  // Only the post that makes the queue non-empty wakes the loop: the loop empties the queue
  // after consuming the wake-up, so every later post either joins that batch or wakes it again.
  if (wake) {
    uint64_t one = 1;
    while (::write(event_fd_.get(), &one, sizeof(one)) < 0) {
      if (errno == EINTR)
        continue;
      // EAGAIN means the counter is saturated, i.e. a wake-up is already pending.
      if (errno != EAGAIN)
        log_->error("loop bridge: eventfd write failed: {}", std::strerror(errno));
      break;
    }
  }
  return true;
}

kj::Promise<void> loop_bridge::run(kj::LowLevelAsyncIoProvider& io) {
  auto wake = io.wrapInputFd(event_fd_.get(), kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC
                                                  | kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
  auto& ref = *wake;
  return wait_and_drain(ref).attach(kj::mv(wake));
}

kj::Promise<void> loop_bridge::wait_and_drain(kj::AsyncInputStream& wake) {
  return wake.tryRead(&wake_count_, sizeof(wake_count_), sizeof(wake_count_))
    .then([this, &wake](size_t n) -> kj::Promise<void> {
      if (n != sizeof(wake_count_))
        return KJ_EXCEPTION(FAILED, "loop bridge: eventfd returned a short read");
      drain();
      return wait_and_drain(wake);
    });
}

void loop_bridge::drain() {
  {
    std::lock_guard guard{mutex_};
    batch_.swap(queue_);
  }
  for (auto& fn : batch_) {
    try {
      fn();
    } catch (const std::exception& e) {
      log_->error("loop bridge: a posted closure threw: {}", e.what());
    } catch (...) {
      log_->error("loop bridge: a posted closure threw a non-standard exception");
    }
  }
  batch_.clear();
}

void loop_bridge::close() {
  std::vector<closure> dropped;
  {
    std::lock_guard guard{mutex_};
    closed_ = true;
    dropped.swap(queue_);
  }
}

bool loop_bridge::is_open() const {
  std::lock_guard guard{mutex_};
  return !closed_;
}

} // namespace dynamo::loop
