// Fuzz target: the bytes a client sends as the HTTP server's connection_stream sees them before
// kj-http parses them. The stream must pass every byte through unchanged, whatever the read
// sizes, and detect an HTTP/1.0 request line from the first line alone.
#include "dynamo/fuzz/check.hpp"
#include "dynamo/http/internal/connection_stream.hpp"
#include "dynamo/log.hpp"

#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

/// Reference for http10(): the first line, without trailing CR/space/tab, ends in " HTTP/1.0".
bool first_line_is_http10(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.remove_suffix(1);
  return line.ends_with(" HTTP/1.0");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using dynamo::http::internal::connection_stream;
  static const auto log = dynamo::default_logger("http-fuzz");
  auto input = dynamo::fuzz::as_text(data, size);
  kj::EventLoop loop;
  kj::WaitScope ws{loop};
  kj::TimerImpl timer{kj::origin<kj::TimePoint>()};
  auto pipe = kj::newTwoWayPipe();
  auto client = kj::mv(pipe.ends[1]);
  connection_stream conn{kj::mv(pipe.ends[0]), timer, log};
  // The in-memory pipe does not buffer: the write completes as the stream reads it.
  auto sent = client->write(data, size).then([&client] { client->shutdownWrite(); })
                .eagerlyEvaluate(nullptr);
  // Read sizes vary with the input so that every split of the first line gets tried.
  constexpr std::array<size_t, 5> chunks{1, 3, 17, 256, 4096};
  std::array<kj::byte, 4096> buf{};
  std::string got;
  for (size_t i = size; ; ++i) {
    auto n = conn.tryRead(buf.data(), 1, chunks[i % chunks.size()]).wait(ws);
    if (n == 0)
      break;
    got.append(reinterpret_cast<const char*>(buf.data()), n);
    DYNAMO_FUZZ_CHECK(got.size() <= size, "the stream never invents bytes");
  }
  sent.wait(ws);
  DYNAMO_FUZZ_CHECK(got == input, "the stream passes the client's bytes through unchanged");
  auto newline = input.find('\n');
  // Lines up to 1 KiB are well below the stream's request-line bound.
  if (newline != std::string_view::npos && newline < 1024)
    DYNAMO_FUZZ_CHECK(conn.http10() == first_line_is_http10(input.substr(0, newline)),
                      "http10() reflects the first request line");
  return 0;
}
