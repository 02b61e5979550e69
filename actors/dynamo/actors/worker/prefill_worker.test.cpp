// The prefill worker tested alone: a mocker engine with a real simulated KV pool behind the
// worker's typed interface, and a fake decode replica (a discovery record plus a region on a
// second agent of the runtime's in-process data fabric) whose blocks the worker writes.
#include "dynamo/actors/worker/prefill_worker.hpp"

#include "dynamo/error.hpp"
#include "dynamo/plane/discovery.hpp"
#include "dynamo/plane/registration.hpp"
#include "dynamo/runtime.hpp"
#include "dynamo/testing/actor_fakes.hpp"
#include "dynamo/testing/wait.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace dynamo::actors {
namespace {

using dynamo::testing::ask_stats;
using dynamo::testing::actor_timeout;
using dynamo::testing::make_context;
using dynamo::testing::make_request;

constexpr uint32_t block_size = 16;
constexpr uint32_t kv_layers = 4;
constexpr uint32_t kv_bytes_per_token = 256;  ///< 1 KiB per (layer, block) region.
constexpr uint64_t region_bytes = uint64_t{block_size} * kv_bytes_per_token / kv_layers;
constexpr uint64_t decode_instance = 0xd0;
/// Fast enough that a prefill completes in milliseconds.
constexpr double fast = 1000;

worker_config prefill_config(double speedup = fast, uint64_t blocks = 256) {
  worker_config cfg;
  cfg.model = "test-model";
  cfg.engine = "mocker";
  cfg.mocker.speedup_ratio = speedup;
  cfg.mocker.kv_bytes_per_token = kv_bytes_per_token;
  cfg.mocker.kv_layers = kv_layers;
  cfg.scheduler.block_size = block_size;
  cfg.scheduler.total_kv_blocks = blocks;
  return cfg;
}

/// What an engine of the same configuration computes for a prompt on its own.
struct reference_run {
  engine::token_id first_token = 0;                  ///< What an aggregated run samples first.
  std::vector<std::vector<std::byte>> regions;       ///< [block * kv_layers + layer].
};

/// Steps `eng` until it is idle (bounded) and returns the first token of `id`, if any.
std::optional<engine::token_id> run_to_end(engine::engine& eng, request_id id) {
  std::optional<engine::token_id> first;
  for (int i = 0; i < 100000 && eng.has_work(); ++i)
    for (auto& out : eng.step().outputs)
      if (out.id == id && !out.tokens.empty() && !first)
        first = out.tokens.front();
  EXPECT_FALSE(eng.has_work()) << "the reference engine did not finish";
  return first;
}

reference_run compute_reference(const generate_request& req) {
  reference_run out;
  auto log = default_logger("reference-run");
  auto aggregated = make_engine(prefill_config(), log);
  EXPECT_TRUE(aggregated) << describe(aggregated.error());
  EXPECT_FALSE((*aggregated)->admit({req.id, req.tokens, req.sampling, req.stop}));
  auto first = run_to_end(**aggregated, req.id);
  EXPECT_TRUE(first) << "the aggregated run produced no token";
  out.first_token = first.value_or(0);
  auto split = make_engine(prefill_config(), log);
  EXPECT_TRUE(split) << describe(split.error());
  engine::sequence_request held_req{req.id, req.tokens, req.sampling, req.stop, true};
  held_req.stop.max_tokens = 1;
  EXPECT_FALSE((*split)->admit(held_req));
  run_to_end(**split, req.id);
  auto held = (*split)->held_blocks(req.id);
  EXPECT_TRUE(held) << describe(held.error());
  auto pool = (*split)->kv_pool();
  EXPECT_EQ(pool.region_bytes, region_bytes);
  if (!held)
    return out;
  for (auto block : held->blocks)
    for (uint32_t layer = 0; layer < kv_layers; ++layer) {
      const auto* begin = pool.base + pool.offset(layer, block);
      out.regions.emplace_back(begin, begin + pool.region_bytes);
    }
  return out;
}

struct prefill_reply {
  std::optional<remote_prefill_result> result;
  caf::error error;
};

/// A decode replica as the prefill worker sees it: a discovery record and a region.
struct fake_decode {
  std::unique_ptr<data_plane> agent;
  allocated_region region;
  disagg::kv_layout layout;
  lease_id lease = 0;

  /// Bytes of region (layer, block).
  std::vector<std::byte> read(uint32_t layer, uint32_t block) const {
    const auto* begin = region.base + layout.offset(layer, block);
    return {begin, begin + layout.region_bytes};
  }
  /// True when region (layer, block) is all zero (never written).
  bool untouched(uint32_t layer, uint32_t block) const {
    auto bytes = read(layer, block);
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
  }
};

class prefill_worker_test : public dynamo::testing::actor_test {
protected:
  ~prefill_worker_test() override {
    for (auto* d : {&decode_, &second_decode_})
      if (d->agent && d->region.base != nullptr)
        static_cast<void>(d->agent->deregister_region(d->region.descriptor.region_id));
  }

  /// Spawns a prefill worker named "prefill" with a mocker engine whose pool is in data_;
  /// `step_tokens` > 0 sets the engine's token budget per step.
  void start_prefill(double speedup = fast, uint32_t step_tokens = 0) {
    ctx_ = make_context(rt(), "prefill");
    auto data = make_kv_data(rt(), "prefill/" + ctx_.instance.to_string());
    ASSERT_TRUE(data) << describe(data.error());
    auto cfg = prefill_config(speedup);
    if (step_tokens > 0)
      cfg.scheduler.max_num_batched_tokens = step_tokens;
    auto eng = make_engine(cfg, ctx_.log, pool_provider(*data));
    ASSERT_TRUE(eng) << describe(eng.error());
    ASSERT_FALSE(attach_engine(**data, **eng, block_size));
    data_ = *data;
    ASSERT_EQ(data_->layout, (disagg::kv_layout{kv_layers, 256, region_bytes, block_size}));
    prefill_ = own(spawn_prefill_worker(ctx_, cfg, std::move(*eng), data_));
    ASSERT_TRUE(prefill_);
  }

  /// Registers a fake decode replica `instance` with a pool of `blocks` blocks.
  void add_decode(fake_decode& d, uint64_t instance = decode_instance, uint32_t blocks = 64) {
    auto agent = rt().make_data_agent("decode/" + instance_id{instance}.to_string());
    ASSERT_TRUE(agent) << describe(agent.error());
    d.agent = std::move(*agent);
    d.layout = disagg::kv_layout{kv_layers, blocks, region_bytes, block_size};
    auto region = d.agent->allocate_region(d.layout.bytes());
    ASSERT_TRUE(region) << describe(region.error());
    d.region = *region;
    publish(d, instance);
  }

  /// (Re)publishes `d`'s discovery record as replica `instance` of "decode".
  void publish(fake_decode& d, uint64_t instance = decode_instance) {
    instance_registration reg;
    reg.endpoints["generate"] = 1;
    reg.data_address = encode_descriptor(d.region.descriptor);
    reg.extra[kv_layout_key] = disagg::encode_layout(d.layout);
    auto lease = rt().discovery().register_instance(
      discovery_record{component_id{rt().ns(), "decode"}, instance_id{instance},
                       reg.to_metadata()},
      lease_options{});
    ASSERT_TRUE(lease) << describe(lease.error());
    d.lease = *lease;
  }

  remote_prefill_request make_remote(request_id id, size_t prompt, std::vector<uint32_t> blocks,
                                     uint32_t cached_tokens = 0) {
    remote_prefill_request req;
    req.request = make_request(id, prompt, 8);
    req.decode_component = "decode";
    req.decode_instance = decode_instance;
    req.blocks = std::move(blocks);
    req.cached_tokens = cached_tokens;
    return req;
  }

  prefill_reply ask(const remote_prefill_request& req) {
    prefill_reply reply;
    self()
      ->request(prefill_, actor_timeout, prefill_atom::value, req)
      .receive([&reply](remote_prefill_result& r) { reply.result = r; },
               [&reply](caf::error& err) { reply.error = std::move(err); });
    return reply;
  }

  prefill_worker_stats stats() {
    caf::scoped_actor probe{rt().system()};
    return ask_stats<prefill_worker_stats>(probe, prefill_);
  }

  /// Nothing in flight, nothing held, no block referenced on the prefill side.
  void expect_no_leaks() {
    DYNAMO_EXPECT_EVENTUALLY(stats().active_prefills == 0, actor_timeout,
                             "every remote prefill answered");
    auto s = stats();
    EXPECT_EQ(s.held_kv_blocks, 0u);
    EXPECT_EQ(s.active_kv_blocks, 0u);
    EXPECT_EQ(s.waiting_sequences + s.running_sequences, 0u);
    EXPECT_EQ(s.data_in_flight, 0u);
    EXPECT_EQ(data_->agent->in_flight(), 0u);
  }

  component_context ctx_;
  std::shared_ptr<kv_data> data_;
  prefill_worker_actor prefill_;
  fake_decode decode_;
  fake_decode second_decode_;
};

TEST_F(prefill_worker_test, writes_the_prompts_kv_into_the_decode_blocks_byte_for_byte) {
  start_prefill();
  add_decode(decode_);
  // 70 tokens: four full blocks and a partial fifth, scattered over the decode pool.
  std::vector<uint32_t> blocks{9, 2, 31, 17, 5};
  auto req = make_remote(0x1234, 70, blocks);
  auto expected = compute_reference(req.request);
  ASSERT_EQ(expected.regions.size(), blocks.size() * kv_layers);
  auto reply = ask(req);
  ASSERT_TRUE(reply.result) << describe(reply.error);
  EXPECT_EQ(reply.result->first_token, expected.first_token)
    << "the first token is what an aggregated run samples first";
  EXPECT_EQ(reply.result->bytes, blocks.size() * kv_layers * region_bytes);
  EXPECT_EQ(reply.result->prefill_worker, ctx_.instance.value);
  EXPECT_EQ(reply.result->prefill_cached_tokens, 0u);
  for (size_t i = 0; i < blocks.size(); ++i)
    for (uint32_t layer = 0; layer < kv_layers; ++layer)
      EXPECT_TRUE(decode_.read(layer, blocks[i]) == expected.regions[i * kv_layers + layer])
        << "block " << i << " (decode block " << blocks[i] << ") layer " << layer;
  EXPECT_TRUE(decode_.untouched(0, 0) && decode_.untouched(kv_layers - 1, 63))
    << "blocks outside the table stay untouched";
  expect_no_leaks();
  // The pool is resolved once per decode replica.
  EXPECT_EQ(stats().cached_peers, 1u);
  auto again = ask(make_remote(0x1235, 20, {40, 41}));
  ASSERT_TRUE(again.result) << describe(again.error);
  expect_no_leaks();
}

TEST_F(prefill_worker_test, skips_the_blocks_the_decode_side_has_cached) {
  start_prefill();
  add_decode(decode_);
  std::vector<uint32_t> blocks{1, 2, 3, 4, 6};
  auto req = make_remote(0x2000, 80, blocks, 35);  // 35 cached tokens: blocks 0 and 1 skipped
  auto expected = compute_reference(req.request);
  auto reply = ask(req);
  ASSERT_TRUE(reply.result) << describe(reply.error);
  EXPECT_EQ(reply.result->bytes, 3 * kv_layers * region_bytes);
  for (uint32_t layer = 0; layer < kv_layers; ++layer) {
    EXPECT_TRUE(decode_.untouched(layer, 1) && decode_.untouched(layer, 2))
      << "cached blocks are not written (layer " << layer << ")";
    for (size_t i = 2; i < blocks.size(); ++i)
      EXPECT_TRUE(decode_.read(layer, blocks[i]) == expected.regions[i * kv_layers + layer])
        << "block " << i << " layer " << layer;
  }
  expect_no_leaks();
}

TEST_F(prefill_worker_test, an_unknown_decode_replica_is_not_found) {
  start_prefill();
  add_decode(decode_);
  auto req = make_remote(0x3000, 20, {0, 1});
  req.decode_instance = 0x999;
  auto reply = ask(req);
  EXPECT_FALSE(reply.result);
  EXPECT_EQ(classify(reply.error), errc::not_found) << describe(reply.error);
  req.decode_component = "no such component!";
  EXPECT_EQ(classify(ask(req).error), errc::invalid_request);
  expect_no_leaks();
}

TEST_F(prefill_worker_test, a_block_table_that_does_not_fit_the_prompt_is_refused) {
  start_prefill();
  add_decode(decode_);
  auto short_table = ask(make_remote(0x4000, 70, {0, 1, 2, 3}));
  EXPECT_EQ(classify(short_table.error), errc::invalid_request) << describe(short_table.error);
  auto long_table = ask(make_remote(0x4001, 20, {0, 1, 2}));
  EXPECT_EQ(classify(long_table.error), errc::invalid_request) << describe(long_table.error);
  auto out_of_pool = ask(make_remote(0x4002, 20, {0, 64}));
  EXPECT_EQ(classify(out_of_pool.error), errc::invalid_request) << describe(out_of_pool.error);
  auto too_cached = ask(make_remote(0x4003, 20, {0, 1}, 21));
  EXPECT_EQ(classify(too_cached.error), errc::invalid_request) << describe(too_cached.error);
  auto empty = ask(make_remote(0x4004, 0, {}));
  EXPECT_EQ(classify(empty.error), errc::invalid_request) << describe(empty.error);
  expect_no_leaks();
}

TEST_F(prefill_worker_test, a_decode_replica_with_another_layout_is_refused) {
  start_prefill();
  auto agent = rt().make_data_agent("decode/odd");
  ASSERT_TRUE(agent) << describe(agent.error());
  decode_.agent = std::move(*agent);
  decode_.layout = disagg::kv_layout{kv_layers + 1, 64, region_bytes, block_size};
  auto region = decode_.agent->allocate_region(decode_.layout.bytes());
  ASSERT_TRUE(region) << describe(region.error());
  decode_.region = *region;
  publish(decode_);
  auto reply = ask(make_remote(0x5000, 20, {0, 1}));
  EXPECT_EQ(classify(reply.error), errc::invalid_request) << describe(reply.error);
  expect_no_leaks();
}

TEST_F(prefill_worker_test, a_cancellation_mid_prefill_replies_cancelled_and_frees_the_blocks) {
  // A hundred times slower than real time: the prefill of 1000 tokens takes far longer than the
  // test waits.
  start_prefill(0.01);
  add_decode(decode_, decode_instance, 128);
  std::vector<uint32_t> blocks;
  for (uint32_t i = 0; i < 63; ++i)
    blocks.push_back(i);
  auto req = make_remote(0x6000, 1000, blocks);
  auto handle = self()->request(prefill_, actor_timeout, prefill_atom::value, req);
  DYNAMO_EXPECT_EVENTUALLY(stats().active_kv_blocks > 0, actor_timeout,
                           "the prefill running in the engine");
  caf::anon_send(prefill_, cancel_atom::value, req.request.id, cancel_kind::kill);
  prefill_reply reply;
  handle.receive([&reply](remote_prefill_result& r) { reply.result = r; },
                 [&reply](caf::error& err) { reply.error = std::move(err); });
  EXPECT_FALSE(reply.result);
  EXPECT_EQ(classify(reply.error), errc::cancelled) << describe(reply.error);
  expect_no_leaks();
  EXPECT_TRUE(decode_.untouched(0, 0)) << "nothing was written";
}

TEST_F(prefill_worker_test, a_deregistered_decode_region_fails_the_transfer_without_leaks) {
  start_prefill();
  add_decode(decode_);
  ASSERT_FALSE(decode_.agent->deregister_region(decode_.region.descriptor.region_id));
  decode_.region = {};
  auto reply = ask(make_remote(0x7000, 40, {0, 1, 2}));
  EXPECT_FALSE(reply.result);
  EXPECT_EQ(classify(reply.error), errc::not_found) << describe(reply.error);
  expect_no_leaks();
  EXPECT_EQ(stats().cached_peers, 0u) << "the stale pool is forgotten";
  // The replica comes back with a new region: the next request resolves it afresh.
  auto region = decode_.agent->allocate_region(decode_.layout.bytes());
  ASSERT_TRUE(region) << describe(region.error());
  decode_.region = *region;
  publish(decode_);
  auto retry = ask(make_remote(0x7001, 40, {0, 1, 2}));
  ASSERT_TRUE(retry.result) << describe(retry.error);
  EXPECT_FALSE(decode_.untouched(0, 0));
  expect_no_leaks();
}

TEST_F(prefill_worker_test, a_prompt_that_waited_reports_its_wait_apart_from_its_service_time) {
  // Two prompts of 400 tokens at once, 256 tokens per step: the second finishes two steps after
  // the first, which it waited for.
  start_prefill(10, 256);
  add_decode(decode_, decode_instance, 64);
  std::vector<uint32_t> first_blocks;
  std::vector<uint32_t> second_blocks;
  for (uint32_t i = 0; i < 25; ++i) {
    first_blocks.push_back(i);
    second_blocks.push_back(32 + i);
  }
  auto first = self()->request(prefill_, actor_timeout, prefill_atom::value,
                               make_remote(0x7100, 400, first_blocks));
  auto second = self()->request(prefill_, actor_timeout, prefill_atom::value,
                                make_remote(0x7101, 400, second_blocks));
  prefill_reply a;
  prefill_reply b;
  first.receive([&a](remote_prefill_result& r) { a.result = r; },
                [&a](caf::error& err) { a.error = std::move(err); });
  second.receive([&b](remote_prefill_result& r) { b.result = r; },
                 [&b](caf::error& err) { b.error = std::move(err); });
  ASSERT_TRUE(a.result) << describe(a.error);
  ASSERT_TRUE(b.result) << describe(b.error);
  EXPECT_EQ(a.result->queue_us, 0u) << "the first prompt found the worker idle";
  EXPECT_GT(a.result->prefill_us, 0u);
  EXPECT_GT(b.result->queue_us, 0u) << "the second waited for the first one's first token";
  EXPECT_GT(b.result->prefill_us, 0u) << "its own two steps";
  expect_no_leaks();
}

TEST_F(prefill_worker_test, a_passed_deadline_is_refused) {
  start_prefill();
  add_decode(decode_);
  auto req = make_remote(0x8000, 20, {0, 1});
  req.request.deadline_unix_ms = 1;
  EXPECT_EQ(classify(ask(req).error), errc::deadline_exceeded);
  expect_no_leaks();
}

TEST_F(prefill_worker_test, registers_its_pool_and_drains_cleanly) {
  start_prefill();
  DYNAMO_EXPECT_EVENTUALLY(!rt().discovery().list(discovery_prefix(ctx_.id())).empty(),
                           actor_timeout, "the prefill worker's discovery record");
  auto records = rt().discovery().list(discovery_prefix(ctx_.id()));
  ASSERT_EQ(records.size(), 1u);
  auto reg = instance_registration::from_metadata(records.front().metadata);
  ASSERT_TRUE(reg) << describe(reg.error());
  EXPECT_EQ(reg->endpoints.count(prefill_api::name), 1u);
  EXPECT_EQ(reg->capacity.kv_block_size.value_or(0), block_size);
  auto pool = peer_pool_of(*reg);
  ASSERT_TRUE(pool) << describe(pool.error());
  EXPECT_EQ(pool->region, data_->pool.descriptor);
  EXPECT_EQ(pool->layout, data_->layout);
  std::optional<drain_report> report;
  self()
    ->request(prefill_, actor_timeout, drain_atom::value, uint32_t{1000})
    .receive([&report](drain_report& r) { report = r; },
             [](caf::error& err) { ADD_FAILURE() << describe(err); });
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->clean);
  await_down(caf::actor_cast<caf::actor>(prefill_));
  EXPECT_TRUE(rt().discovery().list(discovery_prefix(ctx_.id())).empty());
}

TEST_F(prefill_worker_test, the_component_needs_kv_bytes_to_send) {
  auto ctx = make_context(rt(), "prefill");
  auto cfg = prefill_config();
  cfg.mocker.kv_bytes_per_token = 0;
  EXPECT_FALSE(prefill_worker::spawn(ctx, cfg)) << "a mocker without a KV pool cannot prefill";
  auto ok = own(prefill_worker::spawn(ctx, prefill_config()));
  EXPECT_TRUE(ok);
}

TEST(kv_data, peer_pool_of_reads_what_announce_writes_and_rejects_malformed_values) {
  kv_data data;
  instance_registration empty;
  data.announce(empty);
  EXPECT_TRUE(empty.data_address.empty()) << "nothing is announced without a pool";
  EXPECT_EQ(classify(peer_pool_of(empty).error()), errc::not_found);
  data.pool.descriptor = region_descriptor{"agent-a", 7, 4096, "key"};
  std::byte dummy{};
  data.pool.base = &dummy;
  data.layout = disagg::kv_layout{2, 2, 1024, 16};
  instance_registration reg;
  data.announce(reg);
  auto pool = peer_pool_of(reg);
  ASSERT_TRUE(pool) << describe(pool.error());
  EXPECT_EQ(pool->region, data.pool.descriptor);
  EXPECT_EQ(pool->layout, data.layout);
  auto decoded = instance_registration::from_metadata(reg.to_metadata());
  ASSERT_TRUE(decoded) << describe(decoded.error());
  EXPECT_TRUE(peer_pool_of(*decoded)) << "the pool survives the discovery record";
  auto too_big = reg;
  too_big.extra[kv_layout_key] = disagg::encode_layout({2, 3, 1024, 16});
  EXPECT_EQ(classify(peer_pool_of(too_big).error()), errc::invalid_request);
  auto no_layout = reg;
  no_layout.extra.erase(kv_layout_key);
  EXPECT_EQ(classify(peer_pool_of(no_layout).error()), errc::invalid_request);
  auto bad_address = reg;
  bad_address.data_address = "garbage";
  EXPECT_EQ(classify(peer_pool_of(bad_address).error()), errc::invalid_request);
}

} // namespace
} // namespace dynamo::actors
