// The data-plane contract: what every data backend must guarantee. A backend's test
// executable instantiates it with a traits type:
//
//   struct my_traits {
//     // Two agents that can reach each other (named differently).
//     static std::pair<std::unique_ptr<dynamo::data_plane>, std::unique_ptr<dynamo::data_plane>>
//     make_pair();
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(my_backend, data_contract, ::testing::Types<my_traits>);
//
// Validation errors must come back from transfer() itself (on_done is then never called).
// A traits type may declare `static constexpr bool detects_stale_remote = false;` when its
// backend cannot see synchronously that the owner deregistered a region (UCX: the owner is
// another process); such a transfer must then either be refused with not_found or complete
// (with any result), and never crash.
#pragma once

#include "dynamo/error.hpp"
#include "dynamo/plane/data.hpp"
#include "dynamo/testing/contract/common.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <vector>

namespace dynamo::testing::contract {

/// Completion record of one transfer: how often on_done ran and with what.
struct completion {
  std::mutex mu;
  int calls = 0;
  caf::error err;

  /// An on_done that records into this object (kept alive by the callback).
  static std::function<void(caf::error)> callback(const std::shared_ptr<completion>& c) {
    return [c](caf::error e) {
      std::lock_guard guard{c->mu};
      ++c->calls;
      c->err = std::move(e);
    };
  }

  int count() {
    std::lock_guard guard{mu};
    return calls;
  }

  errc result() {
    std::lock_guard guard{mu};
    return classify(err);
  }
};

/// Traits::detects_stale_remote, true when the traits type does not say.
template <class Traits>
constexpr bool detects_stale_remote() {
  if constexpr (requires { Traits::detects_stale_remote; })
    return Traits::detects_stale_remote;
  else
    return true;
}

template <class Traits>
class data_contract : public ::testing::Test {
protected:
  static constexpr size_t region_size = 4 << 20;

  void SetUp() override {
    auto [a, b] = Traits::make_pair();
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    ASSERT_NE(a->agent(), b->agent());
    a_ = std::move(a);
    b_ = std::move(b);
  }

  void TearDown() override {
    a_.reset();
    b_.reset();
    buffers_.clear(); // after the agents: a failed test may leave transfers in flight
  }

  /// Seeded random bytes.
  static std::vector<std::byte> random_bytes(size_t n, uint64_t seed) {
    std::vector<std::byte> result(n);
    std::mt19937_64 gen{seed};
    for (size_t i = 0; i < n; i += 8) {
      auto x = gen();
      std::memcpy(result.data() + i, &x, std::min<size_t>(8, n - i));
    }
    return result;
  }

  /// A buffer owned by the fixture (it outlives the agents): zeros, or random for seed > 0.
  std::vector<std::byte>& buffer(size_t n, uint64_t seed = 0) {
    return buffers_.emplace_back(seed == 0 ? std::vector<std::byte>(n) : random_bytes(n, seed));
  }

  region_descriptor must_register(data_plane& agent, std::vector<std::byte>& buf) {
    auto desc = agent.register_region(buf.data(), buf.size());
    EXPECT_TRUE(ok(desc));
    if (!desc)
      return {};
    EXPECT_EQ(desc->agent, agent.agent());
    EXPECT_EQ(desc->size, buf.size());
    return *desc;
  }

  /// Starts a transfer that must be accepted; returns its completion record.
  std::shared_ptr<completion> must_start(data_plane& agent, transfer_direction dir,
                                         uint64_t local, const region_descriptor& remote,
                                         std::vector<block_copy> blocks) {
    auto c = std::make_shared<completion>();
    auto id = agent.transfer(dir, local, remote, std::move(blocks), completion::callback(c));
    EXPECT_TRUE(ok(id));
    return c;
  }

  /// Waits until `c` completed once; returns its error class.
  static errc wait_done(completion& c, std::chrono::milliseconds timeout = 5s) {
    auto done = wait_until([&c] { return c.count() > 0; }, timeout);
    EXPECT_TRUE(done) << "on_done did not run within " << timeout.count() << " ms";
    return c.result();
  }

  /// Expects `transfer` to be refused with `expected` and on_done never to run.
  void expect_refused(data_plane& agent, transfer_direction dir, uint64_t local,
                      const region_descriptor& remote, std::vector<block_copy> blocks,
                      errc expected, const char* what) {
    auto c = std::make_shared<completion>();
    auto id = agent.transfer(dir, local, remote, std::move(blocks), completion::callback(c));
    ASSERT_FALSE(id) << what << " was accepted";
    EXPECT_EQ(classify(id.error()), expected) << what << ": " << describe(id.error());
    EXPECT_EQ(c->count(), 0) << what << ": on_done must not run for a refused transfer";
  }

  std::list<std::vector<std::byte>> buffers_;
  std::unique_ptr<data_plane> a_;
  std::unique_ptr<data_plane> b_;
};

TYPED_TEST_SUITE_P(data_contract);

TYPED_TEST_P(data_contract, regions_register_and_deregister) {
  auto& a = *this->a_;
  auto& buf1 = this->buffer(4096);
  auto& buf2 = this->buffer(100);
  EXPECT_EQ(a.registered_regions(), 0u);
  auto d1 = this->must_register(a, buf1);
  auto d2 = this->must_register(a, buf2);
  EXPECT_NE(d1.region_id, d2.region_id);
  EXPECT_EQ(a.registered_regions(), 2u);
  ASSERT_TRUE(ok(a.deregister_region(d1.region_id)));
  EXPECT_EQ(a.registered_regions(), 1u);
  EXPECT_EQ(classify(a.deregister_region(d1.region_id)), errc::not_found);
  EXPECT_EQ(classify(a.deregister_region(d2.region_id + 1000)), errc::not_found);
  auto null_region = a.register_region(nullptr, 64);
  ASSERT_FALSE(null_region);
  EXPECT_EQ(classify(null_region.error()), errc::invalid_request);
  auto empty_region = a.register_region(buf1.data(), 0);
  ASSERT_FALSE(empty_region);
  EXPECT_EQ(classify(empty_region.error()), errc::invalid_request);
  ASSERT_TRUE(ok(a.deregister_region(d2.region_id)));
  EXPECT_EQ(a.registered_regions(), 0u);
}

TYPED_TEST_P(data_contract, random_block_lists_are_copied_byte_exact) {
  auto& a = *this->a_;
  auto& b = *this->b_;
  auto& local = this->buffer(this->region_size, 1);
  auto& remote = this->buffer(this->region_size, 2);
  auto expect_local = local;
  auto expect_remote = remote;
  auto ld = this->must_register(a, local);
  auto rd = this->must_register(b, remote);
  std::mt19937_64 gen{20240611};
  auto uniform = [&gen](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>{lo, hi}(gen);
  };
  for (int round = 0; round < 24; ++round) {
    auto dir = uniform(0, 1) == 0 ? transfer_direction::read : transfer_direction::write;
    // Destination ranges: disjoint, in random order; sources: anywhere (overlap allowed).
    std::vector<block_copy> blocks;
    uint64_t cursor = uniform(0, 4096);
    auto count = uniform(1, 12);
    for (uint64_t i = 0; i < count; ++i) {
      auto len = uniform(0, 3) == 0 ? uniform(1, 64) : uniform(1, 256 << 10);
      if (cursor + len > this->region_size)
        break;
      auto src = uniform(0, this->region_size - len);
      if (dir == transfer_direction::read)
        blocks.push_back({cursor, src, len});
      else
        blocks.push_back({src, cursor, len});
      // Sometimes contiguous on both sides (exercises coalescing), otherwise a gap.
      if (uniform(0, 3) == 0 && i + 1 < count) {
        auto len2 = uniform(1, 4096);
        if (cursor + len + len2 <= this->region_size && src + len + len2 <= this->region_size) {
          blocks.push_back(dir == transfer_direction::read
                             ? block_copy{cursor + len, src + len, len2}
                             : block_copy{src + len, cursor + len, len2});
          len += len2;
        }
      }
      cursor += len + uniform(0, 64 << 10);
    }
    if (uniform(0, 1) == 0)
      std::reverse(blocks.begin(), blocks.end());
    for (const auto& blk : blocks) {
      if (dir == transfer_direction::read)
        std::memmove(expect_local.data() + blk.local_offset,
                     expect_remote.data() + blk.remote_offset, blk.length);
      else
        std::memmove(expect_remote.data() + blk.remote_offset,
                     expect_local.data() + blk.local_offset, blk.length);
    }
    auto c = this->must_start(a, dir, ld.region_id, rd, blocks);
    ASSERT_EQ(this->wait_done(*c), errc::none) << "round " << round;
    ASSERT_TRUE(local == expect_local) << "local region differs after round " << round;
    ASSERT_TRUE(remote == expect_remote) << "remote region differs after round " << round;
  }
}

TYPED_TEST_P(data_contract, many_transfers_in_flight_all_complete_exactly_once) {
  constexpr size_t n = 64;
  constexpr size_t chunk = 16 << 10;
  auto& a = *this->a_;
  auto& b = *this->b_;
  auto& src = this->buffer(n * chunk, 3);
  auto& dst = this->buffer(n * chunk);
  auto sd = this->must_register(a, src);
  auto dd = this->must_register(b, dst);
  std::vector<std::shared_ptr<completion>> done;
  for (size_t i = 0; i < n; ++i) {
    // Half the transfers push from a, half pull into b: both directions run concurrently.
    if (i % 2 == 0)
      done.push_back(this->must_start(a, transfer_direction::write, sd.region_id, dd,
                                      {{i * chunk, i * chunk, chunk}}));
    else
      done.push_back(this->must_start(b, transfer_direction::read, dd.region_id, sd,
                                      {{i * chunk, i * chunk, chunk / 2},
                                       {i * chunk + chunk / 2, i * chunk + chunk / 2, chunk / 2}}));
  }
  for (auto& c : done)
    EXPECT_EQ(this->wait_done(*c), errc::none);
  DYNAMO_EXPECT_EVENTUALLY(a.in_flight() == 0 && b.in_flight() == 0, 2000ms,
                           "in_flight() returns to 0");
  EXPECT_TRUE(src == dst) << "every chunk arrived intact";
  // Destroying the agents waits for outstanding callbacks; afterwards none may run again.
  this->a_.reset();
  this->b_.reset();
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(done[i]->count(), 1) << "on_done of transfer " << i << " ran more than once";
}

TYPED_TEST_P(data_contract, out_of_bounds_and_malformed_blocks_are_invalid_request) {
  auto& a = *this->a_;
  auto& b = *this->b_;
  auto& local = this->buffer(4096);
  auto& remote = this->buffer(8192);
  auto ld = this->must_register(a, local);
  auto rd = this->must_register(b, remote);
  using td = transfer_direction;
  auto bad = errc::invalid_request;
  this->expect_refused(a, td::read, ld.region_id, rd, {{0, 0, 4097}}, bad,
                       "a block longer than the local region");
  this->expect_refused(a, td::write, ld.region_id, rd, {{4000, 0, 100}}, bad,
                       "a block past the local end");
  this->expect_refused(a, td::read, ld.region_id, rd, {{0, 8100, 100}}, bad,
                       "a block past the remote end");
  this->expect_refused(a, td::read, ld.region_id, rd, {{0, 0, 16}, {0, UINT64_MAX, 2}}, bad,
                       "an offset that overflows");
  this->expect_refused(a, td::read, ld.region_id, rd, {{10, 0, 0}}, bad, "a zero-length block");
  this->expect_refused(a, td::read, ld.region_id, rd, {{0, 0, 100}, {50, 200, 100}}, bad,
                       "blocks overlapping at the local destination");
  this->expect_refused(a, td::write, ld.region_id, rd, {{0, 0, 100}, {200, 99, 10}}, bad,
                       "blocks overlapping at the remote destination");
  auto refused = a.transfer(td::read, ld.region_id, rd, {{0, 0, 1}}, nullptr);
  ASSERT_FALSE(refused) << "a transfer without on_done was accepted";
  EXPECT_EQ(classify(refused.error()), bad);
  // Overlapping sources are fine: both blocks read the same remote bytes.
  auto c = this->must_start(a, td::read, ld.region_id, rd, {{0, 0, 100}, {100, 0, 100}});
  EXPECT_EQ(this->wait_done(*c), errc::none);
  EXPECT_TRUE(std::equal(local.begin(), local.begin() + 100, local.begin() + 100));
}

TYPED_TEST_P(data_contract, unknown_regions_and_agents_are_not_found) {
  auto& a = *this->a_;
  auto& b = *this->b_;
  auto& local = this->buffer(4096);
  auto& remote = this->buffer(4096);
  auto ld = this->must_register(a, local);
  auto rd = this->must_register(b, remote);
  using td = transfer_direction;
  auto nf = errc::not_found;
  this->expect_refused(a, td::read, ld.region_id + 1000, rd, {{0, 0, 8}}, nf,
                       "an unknown local region");
  auto no_region = rd;
  no_region.region_id += 1000;
  this->expect_refused(a, td::read, ld.region_id, no_region, {{0, 0, 8}}, nf,
                       "an unknown remote region");
  auto no_agent = rd;
  no_agent.agent = "no-such-agent-" + unique_token();
  this->expect_refused(a, td::read, ld.region_id, no_agent, {{0, 0, 8}}, nf,
                       "an unknown remote agent");
}

TYPED_TEST_P(data_contract, deregistered_regions_are_not_found) {
  auto& a = *this->a_;
  auto& b = *this->b_;
  auto& local = this->buffer(4096);
  auto& remote = this->buffer(4096);
  auto ld = this->must_register(a, local);
  auto rd = this->must_register(b, remote);
  ASSERT_TRUE(ok(b.deregister_region(rd.region_id)));
  if constexpr (detects_stale_remote<TypeParam>()) {
    this->expect_refused(a, transfer_direction::write, ld.region_id, rd, {{0, 0, 8}},
                         errc::not_found, "a deregistered remote region");
  } else {
    auto c = std::make_shared<completion>();
    auto id = a.transfer(transfer_direction::read, ld.region_id, rd, {{0, 0, 8}},
                         completion::callback(c));
    if (id)
      this->wait_done(*c);
    else
      EXPECT_EQ(classify(id.error()), errc::not_found) << describe(id.error());
  }
  ASSERT_TRUE(ok(a.deregister_region(ld.region_id)));
  auto rd2 = this->must_register(b, remote);
  this->expect_refused(a, transfer_direction::write, ld.region_id, rd2, {{0, 0, 8}},
                       errc::not_found, "a deregistered local region");
}

TYPED_TEST_P(data_contract, empty_block_list_completes_with_success) {
  auto& a = *this->a_;
  auto& b = *this->b_;
  auto& local = this->buffer(64);
  auto& remote = this->buffer(64);
  auto ld = this->must_register(a, local);
  auto rd = this->must_register(b, remote);
  auto c = this->must_start(a, transfer_direction::read, ld.region_id, rd, {});
  EXPECT_EQ(this->wait_done(*c), errc::none);
  EXPECT_EQ(c->count(), 1);
}

TYPED_TEST_P(data_contract, both_agents_can_initiate) {
  auto& a = *this->a_;
  auto& b = *this->b_;
  auto& abuf = this->buffer(1 << 16, 4);
  auto& bbuf = this->buffer(1 << 16, 5);
  auto original_a = abuf;
  auto ad = this->must_register(a, abuf);
  auto bd = this->must_register(b, bbuf);
  auto c1 = this->must_start(b, transfer_direction::read, bd.region_id, ad, {{0, 0, 1 << 15}});
  ASSERT_EQ(this->wait_done(*c1), errc::none);
  EXPECT_TRUE(std::equal(bbuf.begin(), bbuf.begin() + (1 << 15), original_a.begin()));
  auto c2 = this->must_start(b, transfer_direction::write, bd.region_id, ad,
                             {{1 << 15, 1 << 15, 1 << 15}});
  ASSERT_EQ(this->wait_done(*c2), errc::none);
  EXPECT_TRUE(std::equal(abuf.begin() + (1 << 15), abuf.end(), bbuf.begin() + (1 << 15)));
}

TYPED_TEST_P(data_contract, allocated_regions_are_zeroed_aligned_and_reachable) {
  auto& a = *this->a_;
  auto& b = *this->b_;
  constexpr size_t size = (1 << 20) + 100;
  auto zero = b.allocate_region(0);
  ASSERT_FALSE(zero) << "a 0-byte allocation was accepted";
  EXPECT_EQ(classify(zero.error()), errc::invalid_request);
  auto before = b.registered_regions();
  auto region = b.allocate_region(size);
  ASSERT_TRUE(region) << describe(region.error());
  EXPECT_EQ(b.registered_regions(), before + 1);
  EXPECT_EQ(region->descriptor.agent, b.agent());
  EXPECT_EQ(region->descriptor.size, size);
  ASSERT_NE(region->base, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(region->base) % 64, 0u) << "64-byte aligned";
  EXPECT_TRUE(std::all_of(region->base, region->base + size,
                          [](std::byte x) { return x == std::byte{0}; }))
    << "allocated memory is zero-filled";
  // A peer writes into it and reads it back, byte-exact.
  auto& src = this->buffer(size, 6);
  auto sd = this->must_register(a, src);
  auto c = this->must_start(a, transfer_direction::write, sd.region_id, region->descriptor,
                            {{0, 0, 4096}, {8192, 4096, size - 8192}, {4096, size - 4096, 4096}});
  ASSERT_EQ(this->wait_done(*c), errc::none);
  EXPECT_TRUE(std::equal(src.begin(), src.begin() + 4096, region->base));
  EXPECT_TRUE(std::equal(src.begin() + 8192, src.end(), region->base + 4096));
  EXPECT_TRUE(std::equal(src.begin() + 4096, src.begin() + 8192, region->base + size - 4096));
  auto& back = this->buffer(size);
  auto bd = this->must_register(a, back);
  auto c2 = this->must_start(a, transfer_direction::read, bd.region_id, region->descriptor,
                             {{0, 0, size}});
  ASSERT_EQ(this->wait_done(*c2), errc::none);
  EXPECT_TRUE(std::equal(back.begin(), back.end(), region->base));
  // The owner may also use its own allocation as the local side of a transfer.
  auto c3 = this->must_start(b, transfer_direction::read, region->descriptor.region_id, sd,
                             {{0, 0, 64}});
  ASSERT_EQ(this->wait_done(*c3), errc::none);
  EXPECT_TRUE(std::equal(src.begin(), src.begin() + 64, region->base));
  ASSERT_TRUE(ok(b.deregister_region(region->descriptor.region_id)));
  EXPECT_EQ(b.registered_regions(), before);
  EXPECT_EQ(classify(b.deregister_region(region->descriptor.region_id)), errc::not_found);
  // Allocations left registered are freed with the agent (leak checkers watch TearDown).
  auto kept = b.allocate_region(4096);
  ASSERT_TRUE(kept) << describe(kept.error());
  EXPECT_EQ(b.registered_regions(), before + 1);
}

REGISTER_TYPED_TEST_SUITE_P(data_contract, regions_register_and_deregister,
                            random_block_lists_are_copied_byte_exact,
                            many_transfers_in_flight_all_complete_exactly_once,
                            out_of_bounds_and_malformed_blocks_are_invalid_request,
                            unknown_regions_and_agents_are_not_found,
                            deregistered_regions_are_not_found,
                            empty_block_list_completes_with_success, both_agents_can_initiate,
                            allocated_regions_are_zeroed_aligned_and_reachable);

} // namespace dynamo::testing::contract
