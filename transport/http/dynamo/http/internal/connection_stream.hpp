// One accepted client connection as kj::HttpServer sees it: a transparent wrapper around the
// socket stream that adds what kj-http 0.9 lacks: the HTTP version of the first request line,
// closing the connection after a "Connection: close" / HTTP/1.0 response, detecting a client
// that closes its socket while its request is being served, and a lingering close once kj is done
// with the connection (see docs/design/kj-bridge.md).
#pragma once

#include "dynamo/log.hpp"

#include <kj/async-io.h>
#include <kj/time.h>

#include <array>
#include <cstdint>
#include <string>

namespace dynamo::http::internal {

/// Bounds of connection_stream::linger_close(). The idle timeout restarts with every byte the
/// client sends, so a client that keeps uploading is drained however slowly it (or a loaded
/// server) runs; the other two bound what a client can make the server read after the response.
struct linger_limits {
  uint64_t max_bytes = uint64_t{64} << 20;        ///< Client bytes discarded at most.
  kj::Duration idle_timeout = 5 * kj::SECONDS;    ///< Longest wait for the next byte.
  kj::Duration max_duration = 30 * kj::SECONDS;   ///< Longest lingering close in all.
};

// kj's stream and handler interfaces have no virtual destructors by design (kj::Own carries the
// concrete disposer), which -Wnon-virtual-dtor would flag on every implementation.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

/// An AsyncIoStream forwarding to the accepted socket, with peer-close watching. Loop thread only.
class connection_stream final : public kj::AsyncIoStream, private kj::TaskSet::ErrorHandler {
public:
  /// Wraps `inner`, an accepted connection; `timer` and `limits` bound the lingering close.
  connection_stream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer, logger_ptr log,
                    linger_limits limits = {});
  ~connection_stream();

  connection_stream(const connection_stream&) = delete;
  connection_stream& operator=(const connection_stream&) = delete;

  /// Reads buffered bytes first, then from the socket; reads 0 (EOF) once closing, so that kj
  /// ends the connection instead of reading a refused body or a next request.
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

  /// Makes further reads end the connection (see tryRead), so kj lets go of it after the current
  /// response; linger_close() then closes it.
  void close_after_response();

  /// Closes the connection gracefully once kj let go of it (its listenHttpCleanDrain() promise
  /// settled): unless the client is known to be gone, sends FIN after the response, then reads
  /// and discards what the client still sends. Resolves at the client's EOF or a read error (so
  /// closing the socket cannot make the kernel reset it and destroy the unread response), or at a
  /// bound of `limits` (logged at debug level). Never rejects. Loop thread only; call once, then
  /// destroy the stream.
  kj::Promise<void> linger_close();

  /// True once close_after_response() was called.
  bool closing() const noexcept {
    return closing_;
  }

private:
  connection_stream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer, logger_ptr log,
                    linger_limits limits, kj::PromiseFulfillerPair<void> gone);

  void taskFailed(kj::Exception&& exception) override;

  kj::Promise<void> discard_input();

  bool input_pending() const;

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
  static constexpr size_t linger_read_bytes = 64 * 1024;

  kj::Own<kj::AsyncIoStream> inner_;
  kj::Timer& timer_;
  logger_ptr log_;
  linger_limits limits_;
  kj::Own<kj::PromiseFulfiller<void>> gone_fulfiller_;
  kj::ForkedPromise<void> gone_;
  std::string buffered_;
  size_t buffered_offset_ = 0;
  std::array<kj::byte, 4096> scratch_{};
  kj::Maybe<kj::Exception> failure_;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> waiting_reader_;
  kj::Array<kj::byte> linger_buffer_;
  uint64_t discarded_ = 0;
  std::string first_line_;
  bool sniffed_ = false;
  bool http10_ = false;
  bool eof_ = false;
  bool watching_ = false;
  bool watch_in_flight_ = false;
  bool closing_ = false;
  bool gone_fired_ = false;
  kj::TaskSet tasks_;
};

#pragma GCC diagnostic pop

} // namespace dynamo::http::internal
