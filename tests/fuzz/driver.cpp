// A small stand-in for libFuzzer's main, linked with every fuzz target as fuzz_smoke_<name>:
// runs each seed file as is, then a fixed number of deterministic mutations of the seeds (bit
// flips, byte changes, truncations, insertions, deletions, duplications, splices, tokens). It
// finds no new coverage by itself; it proves, under ASan/UBSan, that the target survives its
// corpus and a few thousand near misses of it, fast enough for every ctest run. When the target
// crashes, the input is written to <artifact-prefix>crash-<hash> and shown on stderr.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// Provided by the sanitizer runtimes when linked; null otherwise.
extern "C" void __sanitizer_set_death_callback(void (*callback)()) __attribute__((weak));

namespace {

constexpr std::string_view usage = R"(usage: fuzz_smoke_<target> [options] [PATH...]

Runs the fuzz target on every file named or found (recursively) in the PATHs, then on
--runs deterministic mutations of those inputs. A crash writes the input to
<artifact-prefix>crash-<hash>; rerun it with: fuzz_smoke_<target> --runs 0 <that file>

options:
  --runs N              mutated inputs to run after the seeds (default 1000)
  --seed S              seed of the mutation generator (default 1)
  --max-len N           longest mutated input in bytes (default 4096, at least the longest seed)
  --artifact-prefix P   where crash files go, a directory with trailing '/' (default ./)
  --verbose             print every seed file name and a summary
  --help                this text
)";

struct options {
  uint64_t runs = 1000;
  uint64_t seed = 1;
  size_t max_len = 4096;
  std::string artifact_prefix = "./";
  bool verbose = false;
  std::vector<std::string> paths;
};

// The input running now, for the crash handlers. Written only between runs.
const std::string* current_input = nullptr;
const char* crash_path = nullptr;
std::string crash_path_storage;
volatile std::sig_atomic_t crash_reported = 0;

uint64_t fnv1a(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Async-signal-safe: open/write/close only, on buffers prepared before the run.
void report_crash() {
  if (crash_reported || current_input == nullptr || crash_path == nullptr)
    return;
  crash_reported = 1;
  int fd = ::open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    const char* p = current_input->data();
    size_t left = current_input->size();
    while (left > 0) {
      auto n = ::write(fd, p, left);
      if (n <= 0)
        break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    ::close(fd);
  }
  const char msg[] = "\nfuzz driver: the crashing input was written to ";
  static_cast<void>(::write(2, msg, sizeof(msg) - 1));
  static_cast<void>(::write(2, crash_path, std::strlen(crash_path)));
  static_cast<void>(::write(2, "\n", 1));
}

void on_signal(int sig) {
  report_crash();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// splitmix64: tiny, fast, and the same sequence on every platform and standard library.
class rng {
public:
  explicit rng(uint64_t seed) : state_(seed) {
  }
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform enough in [0, n); n > 0.
  size_t below(size_t n) {
    return static_cast<size_t>(next() % n);
  }

private:
  uint64_t state_;
};

// Tokens that tend to matter to the decoders we fuzz (JSON, numbers, key=value, addresses).
constexpr std::string_view tokens[] = {
  "\"",    "\\",    "\\u",     "\\ud800", "{",    "}",     "[",    "]",    ",",     ":",
  "null",  "true",  "false",   "0",       "-1",   "1e999", "-0",   "1.5",  "=",     "\n",
  ".",     "/",     "@",       "*",       ">",    " ",     "\xff", "\xc3", "\"\":",
  "18446744073709551615",      "18446744073709551616",     "4294967296",  "65535", "65536",
  "9223372036854775807",       "-9223372036854775808",     "{}",   "[]",   "\"\"",
  std::string_view{"\0", 1},
};

std::string random_bytes(rng& r, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(r.below(256));
  return s;
}

void mutate_once(std::string& s, const std::vector<std::string>& corpus, rng& r) {
  auto pos = [&](size_t extra) { return r.below(s.size() + extra); };
  switch (r.below(10)) {
    case 0: // flip one bit
      if (!s.empty())
        s[pos(0)] ^= static_cast<char>(1u << r.below(8));
      break;
    case 1: // set one byte
      if (!s.empty())
        s[pos(0)] = static_cast<char>(r.below(256));
      break;
    case 2: // truncate
      s.resize(pos(1));
      break;
    case 3: // insert random bytes
      s.insert(pos(1), random_bytes(r, 1 + r.below(8)));
      break;
    case 4: { // delete a range
      if (s.empty())
        break;
      auto at = pos(0);
      s.erase(at, 1 + r.below(std::min<size_t>(16, s.size() - at)));
      break;
    }
    case 5: { // duplicate a range
      if (s.empty())
        break;
      auto at = pos(0);
      auto piece = s.substr(at, 1 + r.below(std::min<size_t>(32, s.size() - at)));
      s.insert(pos(1), piece);
      break;
    }
    case 6: { // splice: our head, another input's tail
      const auto& other = corpus[r.below(corpus.size())];
      s = s.substr(0, pos(1)) + other.substr(r.below(other.size() + 1));
      break;
    }
    case 7: { // insert a piece of another input
      const auto& other = corpus[r.below(corpus.size())];
      if (other.empty())
        break;
      auto at = r.below(other.size());
      s.insert(pos(1), other.substr(at, 1 + r.below(std::min<size_t>(32, other.size() - at))));
      break;
    }
    case 8: // insert a token
      s.insert(pos(1), tokens[r.below(std::size(tokens))]);
      break;
    default: { // overwrite with a token
      auto t = tokens[r.below(std::size(tokens))];
      auto at = pos(1);
      s.replace(at, std::min(t.size(), s.size() - at), t);
      break;
    }
  }
}

std::optional<options> parse_args(int argc, char** argv) {
  options o;
  auto number = [](const char* text, uint64_t& out) {
    char* end = nullptr;
    errno = 0;
    out = std::strtoull(text, &end, 10);
    return errno == 0 && end != text && *end == '\0' && text[0] != '-';
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    auto value = [&](uint64_t& out) {
      if (i + 1 >= argc || !number(argv[i + 1], out)) {
        std::fprintf(stderr, "fuzz driver: %s needs a non-negative number\n", argv[i]);
        return false;
      }
      ++i;
      return true;
    };
    uint64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage.data(), stdout);
      std::exit(0);
    } else if (arg == "--runs") {
      if (!value(o.runs))
        return std::nullopt;
    } else if (arg == "--seed") {
      if (!value(o.seed))
        return std::nullopt;
    } else if (arg == "--max-len") {
      if (!value(n))
        return std::nullopt;
      o.max_len = static_cast<size_t>(n);
    } else if (arg == "--artifact-prefix") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fuzz driver: --artifact-prefix needs a value\n");
        return std::nullopt;
      }
      o.artifact_prefix = argv[++i];
    } else if (arg == "--verbose") {
      o.verbose = true;
    } else if (arg.starts_with("-")) {
      std::fprintf(stderr, "fuzz driver: unknown option %s (see --help)\n", argv[i]);
      return std::nullopt;
    } else {
      o.paths.emplace_back(arg);
    }
  }
  return o;
}

bool read_file(const std::filesystem::path& p, std::string& out) {
  std::ifstream in{p, std::ios::binary};
  if (!in)
    return false;
  out.assign(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{});
  return !in.bad();
}

/// Reads the files named or found under `paths`, sorted by path within each directory.
bool load_corpus(const options& o, std::vector<std::string>& corpus,
                 std::vector<std::string>& names) {
  namespace fs = std::filesystem;
  for (const auto& p : o.paths) {
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(p, ec))
        if (e.is_regular_file())
          files.push_back(e.path());
      std::sort(files.begin(), files.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.emplace_back(p);
    } else {
      std::fprintf(stderr, "fuzz driver: no such file or directory: %s\n", p.c_str());
      return false;
    }
    for (const auto& f : files) {
      std::string bytes;
      if (!read_file(f, bytes)) {
        std::fprintf(stderr, "fuzz driver: cannot read %s\n", f.c_str());
        return false;
      }
      corpus.push_back(std::move(bytes));
      names.push_back(f.string());
    }
  }
  return true;
}

void run_one(const std::string& input, const options& o) {
  crash_path_storage = o.artifact_prefix + "crash-" + std::to_string(fnv1a(input));
  crash_path = crash_path_storage.c_str();
  current_input = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  current_input = nullptr;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse_args(argc, argv);
  if (!o)
    return 2;
  std::vector<std::string> corpus;
  std::vector<std::string> names;
  if (!load_corpus(*o, corpus, names))
    return 2;
  // Sanitizers report memory faults themselves and then call the death callback; abort()
  // (failed invariants, on_internal_error) is ours to catch either way.
  std::signal(SIGABRT, on_signal);
  if (__sanitizer_set_death_callback != nullptr)
    __sanitizer_set_death_callback(report_crash);
  else
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL})
      std::signal(sig, on_signal);
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (o->verbose)
      std::fprintf(stderr, "fuzz driver: seed %s (%zu bytes)\n", names[i].c_str(),
                   corpus[i].size());
    run_one(corpus[i], *o);
  }
  size_t max_len = o->max_len;
  for (const auto& c : corpus)
    max_len = std::max(max_len, c.size());
  if (corpus.empty())
    corpus.emplace_back();
  rng r{o->seed};
  for (uint64_t i = 0; i < o->runs; ++i) {
    std::string input = corpus[r.below(corpus.size())];
    for (size_t k = 1 + r.below(4); k > 0; --k)
      mutate_once(input, corpus, r);
    if (input.size() > max_len)
      input.resize(max_len);
    run_one(input, *o);
  }
  std::fprintf(stderr, "fuzz driver: %zu seed(s) and %llu mutation(s) ran without a crash\n",
               names.size(), static_cast<unsigned long long>(o->runs));
  return 0;
}
