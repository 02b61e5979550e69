// Test-only: a small threaded HTTP/1.1 server on 127.0.0.1 whose handler writes raw response
// bytes, plus helpers that render SSE chunks shaped like our frontend's
// (components/openai/dynamo/openai/format.hpp). Header-only so that several test files of this
// module can share it without becoming part of the library.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace dynamo::workload::fake {

/// One request as the fake server read it.
struct received_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::steady_clock::time_point at;  ///< When the whole request was read.
  uint64_t connection = 0;                   ///< Serial number of the connection it came on.
};

/// The connection a handler answers on.
class server_connection {
public:
  /// Takes over the accepted socket `fd`.
  explicit server_connection(int fd) : fd_(fd) {
  }

  /// Writes all bytes; false once the peer is gone.
  bool write(std::string_view bytes) {
    while (!bytes.empty() && fd_ >= 0) {
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return fd_ >= 0;
  }

  /// Writes the bytes one send() per byte.
  bool write_bytewise(std::string_view bytes) {
    for (char c : bytes)
      if (!write(std::string_view{&c, 1}))
        return false;
    return true;
  }

  /// Closes with an RST (SO_LINGER 0).
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close();
  }

  /// Closes with a FIN.
  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  /// True until close() or reset().
  bool open() const noexcept {
    return fd_ >= 0;
  }

  /// The socket, -1 once closed.
  int fd() const noexcept {
    return fd_;
  }

private:
  int fd_;
};

/// A threaded HTTP/1.1 server: one thread per connection, requests with Content-Length bodies,
/// keep-alive until the handler closes the connection.
class fake_server {
public:
  /// Answers one request by writing raw bytes to the connection.
  using handler = std::function<void(const received_request&, server_connection&)>;

  /// Listens on an ephemeral port of 127.0.0.1; `h` answers every request on its connection's
  /// thread. Throws std::runtime_error when it cannot listen (test setup only).
  explicit fake_server(handler h) : handler_(std::move(h)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::listen(listen_fd_, 1024) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("fake_server: cannot listen");
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  /// Stops accepting, ends every connection thread (handlers see stopping()) and joins them.
  ~fake_server() {
    stop_ = true;
    acceptor_.join();
    ::close(listen_fd_);
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      threads = std::move(threads_);
    }
    for (auto& t : threads)
      t.join();
  }

  fake_server(const fake_server&) = delete;
  fake_server& operator=(const fake_server&) = delete;

  /// The port it listens on (127.0.0.1).
  uint16_t port() const noexcept {
    return port_;
  }

  /// "http://127.0.0.1:<port>".
  std::string url() const {
    return fmt::format("http://127.0.0.1:{}", port_);
  }

  /// Requests read so far, in arrival order.
  std::vector<received_request> requests() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return requests_;
  }

  /// Connections accepted so far.
  uint64_t connections() const noexcept {
    return connections_.load();
  }

  /// True while the server shuts down (handlers that pace their output should give up).
  bool stopping() const noexcept {
    return stop_.load();
  }

private:
  bool wait_readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int rc = ::poll(&p, 1, 20);
      if (rc > 0)
        return true;
      if (rc < 0)
        return false;
    }
    return false;
  }

  void accept_loop() {
    while (wait_readable(listen_fd_)) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto serial = ++connections_;
      std::lock_guard<std::mutex> guard{mtx_};
      threads_.emplace_back([this, fd, serial] { serve(fd, serial); });
    }
  }

  void serve(int fd, uint64_t serial) {
    server_connection conn{fd};
    std::string buf;
    while (conn.open()) {
      auto head_end = buf.find("\r\n\r\n");
      while (head_end == std::string::npos) {
        if (!read_more(conn, buf))
          return;
        head_end = buf.find("\r\n\r\n");
      }
      received_request req;
      req.connection = serial;
      std::string_view head{buf.data(), head_end};
      auto line_end = head.find("\r\n");
      auto request_line = head.substr(0, line_end);
      auto sp1 = request_line.find(' ');
      auto sp2 = request_line.find(' ', sp1 + 1);
      req.method = std::string{request_line.substr(0, sp1)};
      req.target = std::string{request_line.substr(sp1 + 1, sp2 - sp1 - 1)};
      size_t length = 0;
      auto rest =
        line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
      while (!rest.empty()) {
        auto end = rest.find("\r\n");
        auto line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
          continue;
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
          value.remove_prefix(1);
        req.headers.emplace_back(std::string{line.substr(0, colon)}, std::string{value});
        if (line.substr(0, colon) == "Content-Length")
          length = std::stoul(std::string{value});
      }
      buf.erase(0, head_end + 4);
      while (buf.size() < length)
        if (!read_more(conn, buf))
          return;
      req.body = buf.substr(0, length);
      buf.erase(0, length);
      req.at = std::chrono::steady_clock::now();
      {
        std::lock_guard<std::mutex> guard{mtx_};
        requests_.push_back(req);
      }
      handler_(req, conn);
    }
  }

  bool read_more(server_connection& conn, std::string& buf) {
    if (!wait_readable(conn.fd())) {
      conn.close();
      return false;
    }
    char tmp[16384];
    auto n = ::recv(conn.fd(), tmp, sizeof(tmp), 0);
    if (n <= 0) {
      conn.close();
      return false;
    }
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  }

  handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> connections_{0};
  std::thread acceptor_;
  mutable std::mutex mtx_;
  std::vector<std::thread> threads_;
  std::vector<received_request> requests_;
};

/// The head of a streamed SSE response with chunked transfer encoding.
inline std::string sse_head() {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
         "Transfer-Encoding: chunked\r\n\r\n";
}

/// One chunk of the chunked transfer encoding.
inline std::string http_chunk(std::string_view data) {
  return fmt::format("{:x}\r\n{}\r\n", data.size(), data);
}

/// The last chunk of the chunked transfer encoding.
inline std::string last_chunk() {
  return "0\r\n\r\n";
}

/// A completions chunk as our frontend renders it.
inline std::string completion_event(std::string_view text) {
  return fmt::format("data: {{\"id\":\"cmpl-0000000000000001\",\"object\":\"text_completion\","
                     "\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"text\":\"{}\","
                     "\"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
                     text);
}

/// The final completions chunk with a finish reason and empty text.
inline std::string finish_event(std::string_view reason = "length") {
  return fmt::format("data: {{\"id\":\"cmpl-0000000000000001\",\"object\":\"text_completion\","
                     "\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"text\":\"\","
                     "\"logprobs\":null,\"finish_reason\":\"{}\"}}]}}\n\n",
                     reason);
}

/// The usage chunk of a stream with include_usage.
inline std::string usage_event(uint32_t prompt, uint32_t completion, uint32_t cached) {
  return fmt::format("data: {{\"id\":\"cmpl-0000000000000001\",\"object\":\"text_completion\","
                     "\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{{\"prompt_tokens\":"
                     "{},\"completion_tokens\":{},\"total_tokens\":{},\"prompt_tokens_details\":"
                     "{{\"cached_tokens\":{}}}}}}}\n\n",
                     prompt, completion, prompt + completion, cached);
}

/// The stream terminator.
inline std::string done_event() {
  return "data: [DONE]\n\n";
}

/// A complete JSON error response, e.g. a 503.
inline std::string error_response(int status, std::string_view reason, std::string_view message) {
  auto body = fmt::format("{{\"error\":{{\"message\":\"{}\",\"type\":\"service_unavailable\","
                          "\"param\":null,\"code\":null}}}}",
                          message);
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}"
                     "\r\n\r\n{}",
                     status, reason, body.size(), body);
}

} // namespace dynamo::workload::fake
