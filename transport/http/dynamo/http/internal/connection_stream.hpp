// One accepted client connection as kj::HttpServer sees it: a transparent wrapper around the
// socket stream that adds what kj-http 0.9 lacks: the HTTP version of the first request line,
// closing the connection after a "Connection: close" / HTTP/1.0 response, and detecting a client
// that closes its socket while its request is being served (see docs/design/kj-bridge.md).
#pragma once

#include "dynamo/log.hpp"

#include <kj/async-io.h>

#include <array>
#include <string>

namespace dynamo::http::internal {

// kj's stream and handler interfaces have no virtual destructors by design (kj::Own carries the
// concrete disposer), which -Wnon-virtual-dtor would flag on every implementation.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

/// An AsyncIoStream forwarding to the accepted socket, with peer-close watching. Loop thread only.
class connection_stream final : public kj::AsyncIoStream, private kj::TaskSet::ErrorHandler {
public:
  /// Wraps `inner`, an accepted connection; `timer` bounds the lingering close.
  connection_stream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer, logger_ptr log);
  ~connection_stream();

  connection_stream(const connection_stream&) = delete;
  connection_stream& operator=(const connection_stream&) = delete;

  /// Reads buffered bytes first, then from the socket. Once closing, the first read performs a
  /// lingering close (FIN after the response, then discards what the client still sends, for a
  /// bounded time) so the client reads the response instead of an RST; then reads 0 (EOF).
  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  /// Forwards to the socket.
  kj::Promise<void> write(const void* buffer, size_t size) override;
  /// Forwards to the socket.
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  /// Resolves when the socket reports a hang-up or when the peer closed while watched.
  kj::Promise<void> whenWriteDisconnected() override;
  /// Forwards to the socket.
  void shutdownWrite() override;
  /// Forwards to the socket.
  void abortRead() override;
  /// Forwards to the socket.
  void getsockopt(int level, int option, void* value, kj::uint* length) override;
  /// Forwards to the socket.
  void setsockopt(int level, int option, const void* value, kj::uint length) override;
  /// Forwards to the socket.
  void getsockname(struct sockaddr* addr, kj::uint* length) override;
  /// Forwards to the socket.
  void getpeername(struct sockaddr* addr, kj::uint* length) override;
  /// Forwards to the socket.
  kj::Maybe<int> getFd() const override;

  /// True when the connection's first request line ended in "HTTP/1.0".
  bool http10() const noexcept {
    return http10_;
  }

  /// Starts watching the socket for EOF/reset while a request is served and kj is not reading;
  /// bytes that arrive meanwhile (pipelined requests) are kept for kj's next read.
  void start_watch();

  /// Stops treating EOF as a disconnect (the response is complete). A read already in flight
  /// keeps running and its bytes are kept.
  void stop_watch();

  /// Makes further reads end the connection (see tryRead), so kj closes it after the current
  /// response.
  void close_after_response();

  /// True once close_after_response() was called.
  bool closing() const noexcept {
    return closing_;
  }

private:
  connection_stream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer, logger_ptr log,
                    kj::PromiseFulfillerPair<void> gone);

  void taskFailed(kj::Exception&& exception) override;

  kj::Promise<size_t> linger();

  kj::Promise<void> discard_input(size_t budget);

  kj::Promise<void> wait_for_watch();

  kj::Promise<size_t> read_more(kj::byte* out, size_t min_bytes, size_t max_bytes);

  size_t take_buffered(kj::byte* out, size_t max_bytes);

  void arm_watch();

  void on_watch_read(size_t n);

  void on_watch_failed(kj::Exception&& exception);

  void peer_gone();

  void wake_reader();

  void sniff(const kj::byte* data, size_t n);

  static constexpr size_t max_buffered = 64 * 1024;
  static constexpr size_t max_request_line = 8 * 1024;
  static constexpr size_t max_linger_bytes = 64 * 1024 * 1024;

  kj::Own<kj::AsyncIoStream> inner_;
  kj::Timer& timer_;
  logger_ptr log_;
  kj::Own<kj::PromiseFulfiller<void>> gone_fulfiller_;
  kj::ForkedPromise<void> gone_;
  std::string buffered_;
  size_t buffered_offset_ = 0;
  std::array<kj::byte, 4096> scratch_{};
  kj::Maybe<kj::Exception> failure_;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> waiting_reader_;
  std::string first_line_;
  bool sniffed_ = false;
  bool http10_ = false;
  bool eof_ = false;
  bool watching_ = false;
  bool watch_in_flight_ = false;
  bool closing_ = false;
  bool lingered_ = false;
  bool gone_fired_ = false;
  kj::TaskSet tasks_;
};

#pragma GCC diagnostic pop

} // namespace dynamo::http::internal
