// The UCX agent between two processes: a forked child owns the regions and only progresses;
// the parent moves random block lists in and out and checks every byte, then kills the child
// mid-transfer and checks that failures are classified and nothing leaks.
#include "dynamo/ucx/ucx_data.hpp"

#include "dynamo/error.hpp"
#include "dynamo/runtime.hpp"
#include "dynamo/testing/wait.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <poll.h>
#include <random>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace dynamo::ucx {
namespace {

using namespace std::chrono_literals;

constexpr size_t region_size = 8 << 20;
constexpr uint64_t shared_seed = 11;
constexpr uint64_t private_seed = 12;

std::vector<std::byte> random_bytes(size_t n, uint64_t seed) {
  std::vector<std::byte> result(n);
  std::mt19937_64 gen{seed};
  for (size_t i = 0; i < n; i += 8) {
    auto x = gen();
    std::memcpy(result.data() + i, &x, std::min<size_t>(8, n - i));
  }
  return result;
}

/// Completion of one transfer.
struct completion {
  std::mutex mu;
  int calls = 0;
  errc result = errc::none;

  static std::function<void(caf::error)> callback(const std::shared_ptr<completion>& c) {
    return [c](caf::error err) {
      std::lock_guard guard{c->mu};
      ++c->calls;
      c->result = classify(err);
    };
  }

  int count() {
    std::lock_guard guard{mu};
    return calls;
  }

  errc get() {
    std::lock_guard guard{mu};
    return result;
  }
};

/// The child: one UCX-allocated region (shared_seed) and one registered private region
/// (private_seed), announced as two descriptor lines; it progresses until told to exit.
[[noreturn]] void child_main(int in_fd, int out_fd) {
  int rc = 0;
  {
    ucx_options opts;
    opts.agent = "child";
    auto agent = make_ucx_agent(opts);
    if (!agent)
      ::_exit(2);
    auto shared = (*agent)->allocate_region(region_size);
    auto priv = random_bytes(region_size, private_seed);
    auto priv_desc = (*agent)->register_region(priv.data(), priv.size());
    if (!shared || !priv_desc)
      ::_exit(3);
    auto pattern = random_bytes(region_size, shared_seed);
    std::memcpy(shared->base, pattern.data(), region_size);
    auto lines = encode_descriptor(shared->descriptor) + "\n" + encode_descriptor(*priv_desc)
                 + "\n";
    if (::write(out_fd, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size()))
      rc = 4;
    char c = 0;
    [[maybe_unused]] auto n = ::read(in_fd, &c, 1); // blocks until the parent says so
  }
  ::_exit(rc);
}

/// A forked child agent; killed and reaped at the latest by the destructor.
class child_agent {
public:
  child_agent() {
    int down[2];
    int up[2];
    if (::pipe(down) != 0 || ::pipe(up) != 0)
      return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      child_main(down[0], up[1]);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
  }

  ~child_agent() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (to_child_ >= 0)
      ::close(to_child_);
    if (from_child_ >= 0)
      ::close(from_child_);
  }

  /// Reads the child's descriptor lines (bounded).
  std::vector<std::string> descriptors(std::chrono::milliseconds timeout = 10s) {
    std::string text;
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::count(text.begin(), text.end(), '\n') < 2) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
      pollfd fd{from_child_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&fd, 1, static_cast<int>(left.count())) <= 0)
        break;
      char buf[4096];
      auto n = ::read(from_child_, buf, sizeof(buf));
      if (n <= 0)
        break;
      text.append(buf, static_cast<size_t>(n));
    }
    std::vector<std::string> lines;
    size_t start = 0;
    for (auto pos = text.find('\n'); pos != std::string::npos; pos = text.find('\n', start)) {
      lines.push_back(text.substr(start, pos - start));
      start = pos + 1;
    }
    return lines;
  }

  /// Asks the child to exit and returns its exit status (-1 if it did not exit in time).
  int finish(std::chrono::milliseconds timeout = 10s) {
    char c = 'x';
    [[maybe_unused]] auto n = ::write(to_child_, &c, 1);
    int status = 0;
    auto reaped = testing::wait_until(
      [this, &status] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!reaped)
      return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  /// Kills the child and reaps it.
  void kill() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  bool started() const noexcept {
    return pid_ > 0;
  }

private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
};

std::unique_ptr<data_plane> must_make(ucx_options opts) {
  auto agent = make_ucx_agent(std::move(opts));
  EXPECT_TRUE(agent) << describe(agent.error());
  return agent ? std::move(*agent) : nullptr;
}

/// Runs one transfer to completion (bounded); returns its result.
errc run(data_plane& agent, transfer_direction dir, uint64_t local, const region_descriptor& rd,
         std::vector<block_copy> blocks) {
  auto c = std::make_shared<completion>();
  auto id = agent.transfer(dir, local, rd, std::move(blocks), completion::callback(c));
  if (!id)
    return classify(id.error());
  bool done = testing::wait_until([&c] { return c->count() > 0; }, 10s);
  EXPECT_TRUE(done) << "transfer did not complete within 10 s";
  return done ? c->get() : errc::internal;
}

/// A random list of blocks with disjoint destinations of varied sizes (1 B to 1 MiB).
std::vector<block_copy> random_blocks(std::mt19937_64& gen, transfer_direction dir) {
  auto uniform = [&gen](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>{lo, hi}(gen);
  };
  std::vector<block_copy> blocks;
  uint64_t cursor = uniform(0, 8192);
  auto count = uniform(1, 24);
  for (uint64_t i = 0; i < count; ++i) {
    auto len = uniform(0, 2) == 0 ? uniform(1, 100) : uniform(1, 1 << 20);
    if (cursor + len > region_size)
      break;
    auto src = uniform(0, region_size - len);
    blocks.push_back(dir == transfer_direction::read ? block_copy{cursor, src, len}
                                                     : block_copy{src, cursor, len});
    cursor += len + (uniform(0, 2) == 0 ? 0 : uniform(1, 128 << 10));
  }
  std::shuffle(blocks.begin(), blocks.end(), gen);
  return blocks;
}

TEST(ucx_two_processes, random_block_lists_are_copied_byte_exact) {
  child_agent child;
  ASSERT_TRUE(child.started());
  auto lines = child.descriptors();
  ASSERT_EQ(lines.size(), 2u) << "the child did not announce its regions";
  auto shared = decode_descriptor(lines[0]);
  auto priv = decode_descriptor(lines[1]);
  ASSERT_TRUE(shared && priv);
  ucx_options opts;
  opts.agent = "parent";
  auto agent = must_make(opts);
  ASSERT_NE(agent, nullptr);
  auto local = agent->allocate_region(region_size);
  ASSERT_TRUE(local) << describe(local.error());
  auto local_id = local->descriptor.region_id;
  std::byte* mem = local->base;
  // The owner's initial contents arrive intact, from UCX-allocated and from private memory.
  std::vector<std::vector<std::byte>> model = {random_bytes(region_size, shared_seed),
                                               random_bytes(region_size, private_seed)};
  std::vector<region_descriptor> remote = {*shared, *priv};
  for (size_t r = 0; r < 2; ++r) {
    ASSERT_EQ(run(*agent, transfer_direction::read, local_id, remote[r], {{0, 0, region_size}}),
              errc::none);
    ASSERT_TRUE(std::equal(mem, mem + region_size, model[r].begin())) << "region " << r;
  }
  // Random block lists both ways; the local side is mirrored in `mirror`.
  std::vector<std::byte> mirror(mem, mem + region_size);
  // Fresh local content per write round: windows of one random buffer (cheap under ASan).
  auto source = random_bytes(2 * region_size, 99);
  std::mt19937_64 gen{77};
  for (int round = 0; round < 40; ++round) {
    auto r = static_cast<size_t>(round % 2);
    auto dir = round % 3 == 0 ? transfer_direction::read : transfer_direction::write;
    if (dir == transfer_direction::write) {
      // Fresh local content so that writes carry new bytes.
      auto* fresh = source.data() + static_cast<size_t>(round) * 40961 % region_size;
      std::memcpy(mem, fresh, region_size);
      std::memcpy(mirror.data(), fresh, region_size);
    }
    auto blocks = random_blocks(gen, dir);
    for (const auto& b : blocks) {
      if (dir == transfer_direction::read)
        std::memmove(mirror.data() + b.local_offset, model[r].data() + b.remote_offset,
                     b.length);
      else
        std::memmove(model[r].data() + b.remote_offset, mirror.data() + b.local_offset,
                     b.length);
    }
    ASSERT_EQ(run(*agent, dir, local_id, remote[r], blocks), errc::none) << "round " << round;
    ASSERT_TRUE(std::equal(mem, mem + region_size, mirror.begin())) << "round " << round;
  }
  // Many transfers in flight at once: 16 disjoint writes into the shared region.
  auto fresh = std::vector<std::byte>(source.begin() + 12345,
                                      source.begin() + 12345 + region_size);
  std::memcpy(mem, fresh.data(), region_size);
  std::vector<std::shared_ptr<completion>> batch;
  constexpr size_t chunk = region_size / 16;
  for (size_t i = 0; i < 16; ++i) {
    auto c = std::make_shared<completion>();
    auto id = agent->transfer(transfer_direction::write, local_id, remote[0],
                              {{i * chunk, (15 - i) * chunk, chunk}}, completion::callback(c));
    ASSERT_TRUE(id) << describe(id.error());
    batch.push_back(c);
    std::memcpy(model[0].data() + (15 - i) * chunk, fresh.data() + i * chunk, chunk);
  }
  for (auto& c : batch) {
    ASSERT_TRUE(testing::wait_until([&c] { return c->count() > 0; }, 10s))
      << "a batched write did not complete within 10 s";
    EXPECT_EQ(c->get(), errc::none);
  }
  // Read everything back: the owner's memory equals the model.
  for (size_t r = 0; r < 2; ++r) {
    ASSERT_EQ(run(*agent, transfer_direction::read, local_id, remote[r], {{0, 0, region_size}}),
              errc::none);
    ASSERT_TRUE(std::equal(mem, mem + region_size, model[r].begin())) << "final region " << r;
  }
  EXPECT_EQ(agent->in_flight(), 0u);
  EXPECT_EQ(agent->registered_regions(), 1u);
  EXPECT_TRUE(!agent->deregister_region(local_id));
  EXPECT_EQ(agent->registered_regions(), 0u);
  EXPECT_EQ(child.finish(), 0) << "the child exits cleanly";
}

/// Kills the child while reads from its private region are in flight; every transfer ends
/// once, the ones started after its death fail, and nothing stays pinned or in flight.
void kill_mid_transfer(bool detect_peer_failure) {
  child_agent child;
  ASSERT_TRUE(child.started());
  auto lines = child.descriptors();
  ASSERT_EQ(lines.size(), 2u) << "the child did not announce its regions";
  auto priv = decode_descriptor(lines[1]);
  ASSERT_TRUE(priv);
  ucx_options opts;
  opts.agent = "parent";
  opts.transfer_timeout = 1500ms;
  opts.keepalive_interval = 200ms;
  opts.detect_peer_failure = detect_peer_failure;
  auto agent = must_make(opts);
  ASSERT_NE(agent, nullptr);
  std::vector<std::byte> buf(region_size);
  auto local = agent->register_region(buf.data(), buf.size());
  ASSERT_TRUE(local) << describe(local.error());
  ASSERT_EQ(run(*agent, transfer_direction::read, local->region_id, *priv, {{0, 0, 4096}}),
            errc::none);
  // Keep reads in flight, kill the child while they run, then start more after its death.
  constexpr size_t chunk = 1 << 20;
  std::vector<std::shared_ptr<completion>> all;
  auto start = [&agent, &local, &priv, &all](size_t i) {
    auto c = std::make_shared<completion>();
    auto off = (i % 8) * chunk;
    auto id = agent->transfer(transfer_direction::read, local->region_id, *priv,
                              {{off, off, chunk}}, completion::callback(c));
    EXPECT_TRUE(id) << describe(id.error());
    if (id)
      all.push_back(c);
  };
  for (size_t i = 0; i < 8; ++i)
    start(i);
  child.kill();
  for (size_t i = 0; i < 4; ++i)
    start(i);
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::wait_until(
    [&all] {
      return std::all_of(all.begin(), all.end(), [](auto& c) { return c->count() > 0; });
    },
    8s))
    << "every transfer completes (transfer_timeout 1.5 s) after the peer died";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  size_t failed = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i]->count(), 1) << "transfer " << i;
    auto r = all[i]->get();
    EXPECT_TRUE(r == errc::none || r == errc::disconnected || r == errc::deadline_exceeded)
      << "transfer " << i << ": " << to_string(r);
    failed += r == errc::none ? 0 : 1;
  }
  EXPECT_GE(failed, 4u) << "the transfers started after the peer's death must fail";
  DYNAMO_EXPECT_EVENTUALLY(agent->in_flight() == 0, 2000ms, "in_flight() returns to 0");
  EXPECT_EQ(agent->registered_regions(), 1u);
  // The local region is not pinned by the failed transfers: deregistration is immediate.
  EXPECT_TRUE(!agent->deregister_region(local->region_id));
  EXPECT_EQ(agent->registered_regions(), 0u);
}

TEST(ucx_two_processes, a_peer_killed_mid_transfer_fails_transfers_without_leaks) {
  kill_mid_transfer(false);
}

TEST(ucx_two_processes, with_peer_failure_detection_a_killed_peer_fails_transfers) {
  kill_mid_transfer(true);
}

TEST(ucx_agent, rejects_descriptors_of_other_backends_and_mismatched_names) {
  auto a = must_make({});
  auto b = must_make({});
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->agent(), b->agent()) << "generated names differ";
  EXPECT_EQ(a->name(), "ucx");
  auto local = a->allocate_region(4096);
  auto remote = b->allocate_region(4096);
  ASSERT_TRUE(local && remote);
  auto noop = [](caf::error) {};
  auto foreign = remote->descriptor;
  foreign.remote_key = "0123456789abcdef";
  auto r = a->transfer(transfer_direction::read, local->descriptor.region_id, foreign,
                       {{0, 0, 8}}, noop);
  ASSERT_FALSE(r);
  EXPECT_EQ(classify(r.error()), errc::not_found);
  auto resized = remote->descriptor;
  resized.size *= 2;
  r = a->transfer(transfer_direction::read, local->descriptor.region_id, resized, {{0, 0, 8}},
                  noop);
  ASSERT_FALSE(r) << "a descriptor claiming a larger region was accepted";
  EXPECT_EQ(classify(r.error()), errc::not_found);
}

TEST(ucx_agent, an_agent_may_be_destroyed_inside_its_own_on_done) {
  auto owner = must_make({});
  ASSERT_NE(owner, nullptr);
  auto remote = owner->allocate_region(1 << 16);
  ASSERT_TRUE(remote);
  struct holder {
    std::mutex mu;
    std::unique_ptr<data_plane> agent;
    bool destroyed = false;
  };
  auto h = std::make_shared<holder>();
  h->agent = must_make({});
  ASSERT_NE(h->agent, nullptr);
  auto local = h->agent->allocate_region(1 << 16);
  ASSERT_TRUE(local);
  auto id = h->agent->transfer(transfer_direction::read, local->descriptor.region_id,
                               remote->descriptor, {{0, 0, 1 << 16}}, [h](caf::error) {
                                 std::unique_ptr<data_plane> doomed;
                                 {
                                   std::lock_guard guard{h->mu};
                                   doomed = std::move(h->agent);
                                 }
                                 doomed.reset();
                                 std::lock_guard guard{h->mu};
                                 h->destroyed = true;
                               });
  ASSERT_TRUE(id) << describe(id.error());
  EXPECT_TRUE(testing::wait_until(
    [&h] {
      std::lock_guard guard{h->mu};
      return h->destroyed;
    },
    5s))
    << "the agent is destroyed from its own on_done without deadlock";
  EXPECT_EQ(owner->registered_regions(), 1u);
}

TEST(ucx_agent, a_runtime_with_a_ucx_factory_makes_ucx_agents) {
  runtime_config cfg;
  cfg.threads = 1;
  cfg.log_level = "warn";
  plane_backends backends;
  backends.data_agents = [](std::string name) {
    ucx_options opts;
    opts.agent = std::move(name);
    return make_ucx_agent(std::move(opts));
  };
  auto rt = runtime::make(cfg, backends);
  ASSERT_TRUE(rt) << describe(rt.error());
  auto agent = (*rt)->make_data_agent("worker/1");
  ASSERT_TRUE(agent) << describe(agent.error());
  EXPECT_EQ((*agent)->name(), "ucx");
  EXPECT_EQ((*agent)->agent(), "worker/1");
  agent->reset();
  cfg.data_backend = "inproc";
  auto inproc = runtime::make(cfg, backends);
  ASSERT_TRUE(inproc) << describe(inproc.error());
  auto agent2 = (*inproc)->make_data_agent("worker/2");
  ASSERT_TRUE(agent2);
  EXPECT_EQ((*agent2)->name(), "inproc") << "--runtime.data-backend inproc wins over a factory";
  cfg.data_backend = "rdma";
  auto bad = runtime::make(cfg, backends);
  ASSERT_FALSE(bad);
  EXPECT_EQ(classify(bad.error()), errc::invalid_request);
  cfg.data_backend = "ucx";
  auto missing = runtime::make(cfg, plane_backends{});
  ASSERT_FALSE(missing) << "ucx without a factory";
  EXPECT_EQ(classify(missing.error()), errc::invalid_request);
}

} // namespace
} // namespace dynamo::ucx
