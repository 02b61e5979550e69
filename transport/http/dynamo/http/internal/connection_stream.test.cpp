#include "dynamo/http/internal/connection_stream.hpp"

#include "dynamo/loop/unique_fd.hpp"

#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <string>

namespace dynamo::http::internal {
namespace {

/// A connection_stream over an in-process pipe, on a kj loop whose time only moves when the test
/// says so. The pipe does not buffer: a client write completes once the stream has read it.
class http_connection_linger : public ::testing::Test {
protected:
  // kj's loop types may throw from their destructors; gtest's fixture destructor may not.
  ~http_connection_linger() noexcept override {
    conn_ = nullptr;
    client_ = nullptr;
  }

  /// Creates the stream under test with `limits`.
  void start(linger_limits limits = {}) {
    auto pipe = kj::newTwoWayPipe();
    client_ = kj::mv(pipe.ends[1]);
    conn_ = kj::heap<connection_stream>(kj::mv(pipe.ends[0]), timer_,
                                        default_logger("http-test"), limits);
  }

  /// Moves the clock forward by `d` and runs what became ready.
  void advance(kj::Duration d) {
    timer_.advanceTo(timer_.now() + d);
    ws_.poll();
  }

  /// True when the client reads EOF, i.e. the stream sent FIN.
  bool client_reads_eof() {
    kj::byte b = 0;
    auto read = client_->tryRead(&b, 1, 1);
    return read.poll(ws_) && read.wait(ws_) == 0;
  }

  kj::EventLoop loop_;
  kj::WaitScope ws_{loop_};
  kj::TimerImpl timer_{kj::origin<kj::TimePoint>()};
  kj::Own<kj::AsyncIoStream> client_;
  kj::Own<connection_stream> conn_;
  const std::string piece_ = std::string(64 * 1024, 'x');
};

TEST_F(http_connection_linger, drains_a_client_that_keeps_sending_for_as_long_as_it_does) {
  start();
  auto closing = conn_->linger_close().eagerlyEvaluate(nullptr);
  EXPECT_TRUE(client_reads_eof()) << "the lingering close should send FIN first";
  // 4 s between pieces stays under the idle timeout; 20 s in all is far beyond any fixed
  // deadline of a few seconds.
  for (int i = 0; i < 5; ++i) {
    advance(4 * kj::SECONDS);
    auto write = client_->write(piece_.data(), piece_.size());
    ASSERT_TRUE(write.poll(ws_)) << "piece " << i << " should have been read and discarded";
    write.wait(ws_);
    EXPECT_FALSE(closing.poll(ws_)) << "the close should wait for more after piece " << i;
  }
  client_->shutdownWrite();
  EXPECT_TRUE(closing.poll(ws_)) << "the close should end at the client's EOF";
}

TEST_F(http_connection_linger, gives_up_on_a_client_that_sends_nothing_for_the_idle_timeout) {
  start();
  auto closing = conn_->linger_close().eagerlyEvaluate(nullptr);
  advance(4900 * kj::MILLISECONDS);
  EXPECT_FALSE(closing.poll(ws_)) << "the close should still wait before the idle timeout";
  advance(200 * kj::MILLISECONDS);
  EXPECT_TRUE(closing.poll(ws_)) << "the close should end after 5 s without data";
}

TEST_F(http_connection_linger, stops_after_discarding_max_bytes) {
  linger_limits limits;
  limits.max_bytes = 100 * 1024;
  start(limits);
  auto closing = conn_->linger_close().eagerlyEvaluate(nullptr);
  auto first = client_->write(piece_.data(), piece_.size());
  ASSERT_TRUE(first.poll(ws_)) << "the first piece is within the budget";
  first.wait(ws_);
  EXPECT_FALSE(closing.poll(ws_));
  auto second = client_->write(piece_.data(), piece_.size());
  EXPECT_FALSE(second.poll(ws_)) << "only the rest of the budget should be read";
  EXPECT_TRUE(closing.poll(ws_)) << "the close should end once 100 KiB were discarded";
}

TEST_F(http_connection_linger, stops_after_max_duration_even_while_the_client_sends) {
  linger_limits limits;
  limits.max_duration = 10 * kj::SECONDS;
  start(limits);
  auto closing = conn_->linger_close().eagerlyEvaluate(nullptr);
  for (int i = 0; i < 2; ++i) {
    advance(4 * kj::SECONDS);
    auto write = client_->write(piece_.data(), piece_.size());
    ASSERT_TRUE(write.poll(ws_)) << "piece " << i;
    write.wait(ws_);
  }
  EXPECT_FALSE(closing.poll(ws_)) << "8 s is within the 10 s bound";
  advance(4 * kj::SECONDS);
  EXPECT_TRUE(closing.poll(ws_)) << "the close should end at 10 s";
}

TEST_F(http_connection_linger, ends_at_once_when_the_client_already_closed) {
  start();
  client_->shutdownWrite();
  kj::byte b = 0;
  auto read = conn_->tryRead(&b, 1, 1);
  ASSERT_TRUE(read.poll(ws_));
  EXPECT_EQ(read.wait(ws_), 0u);
  auto closing = conn_->linger_close();
  EXPECT_TRUE(closing.poll(ws_)) << "nothing can arrive after EOF, so there is nothing to drain";
}

TEST_F(http_connection_linger, takes_over_from_a_watch_read_in_flight) {
  start();
  conn_->start_watch();
  conn_->stop_watch();  // the watch read stays in flight
  auto closing = conn_->linger_close().eagerlyEvaluate(nullptr);
  EXPECT_TRUE(client_reads_eof());
  auto write = client_->write(piece_.data(), 10);
  ASSERT_TRUE(write.poll(ws_)) << "the in-flight watch read should take the bytes";
  write.wait(ws_);
  EXPECT_FALSE(closing.poll(ws_));
  client_->shutdownWrite();
  EXPECT_TRUE(closing.poll(ws_)) << "the close should read on after the watch read, up to EOF";
}

TEST_F(http_connection_linger, reads_end_once_the_connection_is_closing) {
  start();
  auto pending = client_->write(piece_.data(), 16);
  conn_->close_after_response();
  kj::byte buf[16] = {};
  auto read = conn_->tryRead(buf, 1, sizeof(buf));
  ASSERT_TRUE(read.poll(ws_));
  EXPECT_EQ(read.wait(ws_), 0u) << "kj should see EOF instead of a next request";
  EXPECT_FALSE(pending.poll(ws_)) << "the client's bytes are left for the lingering close";
}

TEST(http_connection_linger_socket, input_that_arrived_before_a_late_idle_timer_is_drained) {
  auto io = kj::setupAsyncIo();
  int fds[2] = {-1, -1};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  loop::unique_fd client{fds[1]};
  kj::TimerImpl timer{kj::origin<kj::TimePoint>()};
  auto conn = kj::heap<connection_stream>(
    io.lowLevelProvider->wrapSocketFd(fds[0], kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP),
    timer, default_logger("http-test"));
  auto closing = conn->linger_close().eagerlyEvaluate(nullptr);
  io.waitScope.poll();
  char byte = 0;
  ASSERT_EQ(::recv(client.get(), &byte, 1, MSG_DONTWAIT), 0) << "the close should send FIN";
  // Bytes arrive in time, but the loop only gets to them after the idle timer expired (a starved
  // loop): the timer event runs before the loop next polls the socket.
  ASSERT_EQ(::send(client.get(), "late", 4, MSG_NOSIGNAL), 4);
  timer.advanceTo(timer.now() + 6 * kj::SECONDS);
  io.waitScope.poll();
  EXPECT_FALSE(closing.poll(io.waitScope)) << "pending input should keep the close draining";
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  EXPECT_TRUE(closing.poll(io.waitScope)) << "the close should end at the client's EOF";
}

} // namespace
} // namespace dynamo::http::internal
