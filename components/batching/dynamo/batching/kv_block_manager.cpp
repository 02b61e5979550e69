#include "dynamo/batching/kv_block_manager.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

namespace dynamo::batching {

kv_block_manager::kv_block_manager(uint64_t total_blocks, bool prefix_caching)
  : prefix_caching_(prefix_caching) {
  if (total_blocks == 0 || total_blocks >= npos)
    on_internal_error(fmt::format("kv_block_manager: invalid pool size {}", total_blocks));
  blocks_.resize(total_blocks);
  free_.reserve(total_blocks);
  // Pop from the back: block 0 is handed out first.
  for (uint64_t i = total_blocks; i > 0; --i)
    free_.push_back(static_cast<block_index>(i - 1));
  if (prefix_caching_)
    cached_.reserve(total_blocks);
}

void kv_block_manager::set_event_sink(engine::kv_event_sink sink) {
  sink_ = std::move(sink);
}

prefix_match kv_block_manager::match_prefix(std::span<const uint64_t> sequence_hashes) const {
  prefix_match result;
  if (!prefix_caching_)
    return result;
  for (auto hash : sequence_hashes) {
    auto i = cached_.find(hash);
    if (i == cached_.end())
      break;
    ++result.blocks;
    if (blocks_[i->second].refs == 0)
      ++result.inactive;
  }
  return result;
}

block_index kv_block_manager::acquire_cached(uint64_t sequence_hash) {
  auto i = cached_.find(sequence_hash);
  if (i == cached_.end())
    on_internal_error(
      fmt::format("kv_block_manager: acquire_cached({:#x}) of an uncached hash", sequence_hash));
  auto b = i->second;
  auto& blk = blocks_[b];
  if (blk.refs == 0) {
    lru_unlink(b);
    ++active_count_;
  }
  ++blk.refs;
  return b;
}

bool kv_block_manager::allocate(uint32_t count, std::vector<block_index>& out) {
  if (count > available_blocks())
    return false;
  std::vector<uint64_t> removed;
  auto* removed_ptr = sink_ ? &removed : nullptr;
  for (uint32_t n = 0; n < count; ++n) {
    block_index b;
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else {
      b = evict_lru(removed_ptr);
    }
    blocks_[b].refs = 1;
    ++active_count_;
    out.push_back(b);
  }
  if (!removed.empty()) {
    engine::kv_event ev;
    ev.type = engine::kv_event::kind::removed;
    ev.block_hashes = std::move(removed);
    emit(std::move(ev));
  }
  return true;
}

void kv_block_manager::register_blocks(std::span<const block_index> blocks,
                                       std::span<const uint64_t> sequence_hashes,
                                       std::span<const uint64_t> local_hashes,
                                       std::optional<uint64_t> parent) {
  if (blocks.size() != sequence_hashes.size() || blocks.size() != local_hashes.size())
    on_internal_error("kv_block_manager: register_blocks with mismatched spans");
  if (!prefix_caching_ || blocks.empty())
    return;
  // One stored event per run of newly registered blocks, so that each event's hashes chain from
  // its parent_hash.
  engine::kv_event run;
  auto flush = [this, &run] {
    if (!run.block_hashes.empty()) {
      run.type = engine::kv_event::kind::stored;
      emit(std::move(run));
    }
    run = engine::kv_event{};
  };
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto b = blocks[i];
    if (b >= blocks_.size() || blocks_[b].refs == 0)
      on_internal_error(fmt::format("kv_block_manager: registering unreferenced block {}", b));
    auto& blk = blocks_[b];
    bool inserted = false;
    if (!blk.registered) {
      inserted = cached_.try_emplace(sequence_hashes[i], b).second;
      if (inserted) {
        blk.registered = true;
        blk.sequence_hash = sequence_hashes[i];
        blk.local_hash = local_hashes[i];
        auto blk_parent = i == 0 ? parent : std::optional<uint64_t>{sequence_hashes[i - 1]};
        blk.has_parent = blk_parent.has_value();
        blk.parent_hash = blk_parent.value_or(0);
      }
    }
    if (!inserted) {
      flush();
      continue;
    }
    if (!sink_)
      continue;
    if (run.block_hashes.empty())
      run.parent_hash = i == 0 ? parent : std::optional<uint64_t>{sequence_hashes[i - 1]};
    run.block_hashes.push_back(sequence_hashes[i]);
    run.token_hashes.push_back(local_hashes[i]);
  }
  flush();
}

void kv_block_manager::release(std::span<const block_index> blocks) {
  for (auto i = blocks.rbegin(); i != blocks.rend(); ++i) {
    auto b = *i;
    if (b >= blocks_.size() || blocks_[b].refs == 0)
      on_internal_error(fmt::format("kv_block_manager: releasing unreferenced block {}", b));
    auto& blk = blocks_[b];
    if (--blk.refs > 0)
      continue;
    --active_count_;
    if (blk.registered)
      lru_push_back(b);
    else
      free_.push_back(b);
  }
}

std::vector<engine::kv_event> kv_block_manager::snapshot() const {
  std::vector<engine::kv_event> out;
  if (!prefix_caching_ || cached_.empty())
    return out;
  // Children by the parent's sequence hash; blocks whose parent is not registered start a run.
  std::unordered_map<uint64_t, std::vector<block_index>> children;
  std::vector<block_index> starts;
  for (block_index b = 0; b < blocks_.size(); ++b) {
    const auto& blk = blocks_[b];
    if (!blk.registered)
      continue;
    if (blk.has_parent && blk.parent_hash != blk.sequence_hash && cached_.contains(blk.parent_hash))
      children[blk.parent_hash].push_back(b);
    else
      starts.push_back(b);
  }
  std::vector<bool> emitted(blocks_.size(), false);
  // Depth first: a run follows the first child; siblings start runs of their own later, after
  // the run that holds their parent.
  auto emit_runs_from = [this, &out, &children, &emitted](block_index start) {
    std::vector<block_index> pending{start};
    while (!pending.empty()) {
      auto b = pending.back();
      pending.pop_back();
      if (emitted[b])
        continue;
      engine::kv_event run;
      run.type = engine::kv_event::kind::stored;
      if (blocks_[b].has_parent)
        run.parent_hash = blocks_[b].parent_hash;
      while (true) {
        emitted[b] = true;
        run.block_hashes.push_back(blocks_[b].sequence_hash);
        run.token_hashes.push_back(blocks_[b].local_hash);
        auto kids = children.find(blocks_[b].sequence_hash);
        if (kids == children.end())
          break;
        auto next = npos;
        for (auto i = kids->second.rbegin(); i != kids->second.rend(); ++i) {
          if (emitted[*i])
            continue;
          if (next != npos)
            pending.push_back(next);
          next = *i;
        }
        if (next == npos)
          break;
        b = next;
      }
      out.push_back(std::move(run));
    }
  };
  for (auto b : starts)
    emit_runs_from(b);
  // Only a cycle of parent links (a hash collision) leaves blocks unreached: report them anyway.
  for (block_index b = 0; b < blocks_.size(); ++b)
    if (blocks_[b].registered && !emitted[b])
      emit_runs_from(b);
  return out;
}

bool kv_block_manager::is_cached(uint64_t sequence_hash) const {
  return cached_.contains(sequence_hash);
}

uint32_t kv_block_manager::ref_count(block_index block) const {
  return block < blocks_.size() ? blocks_[block].refs : 0;
}

void kv_block_manager::lru_push_back(block_index b) noexcept {
  auto& blk = blocks_[b];
  blk.lru_prev = lru_tail_;
  blk.lru_next = npos;
  if (lru_tail_ != npos)
    blocks_[lru_tail_].lru_next = b;
  else
    lru_head_ = b;
  lru_tail_ = b;
  ++inactive_count_;
}

void kv_block_manager::lru_unlink(block_index b) noexcept {
  auto& blk = blocks_[b];
  if (blk.lru_prev != npos)
    blocks_[blk.lru_prev].lru_next = blk.lru_next;
  else
    lru_head_ = blk.lru_next;
  if (blk.lru_next != npos)
    blocks_[blk.lru_next].lru_prev = blk.lru_prev;
  else
    lru_tail_ = blk.lru_prev;
  blk.lru_prev = npos;
  blk.lru_next = npos;
  --inactive_count_;
}

block_index kv_block_manager::evict_lru(std::vector<uint64_t>* removed) {
  auto b = lru_head_;
  if (b == npos)
    on_internal_error("kv_block_manager: eviction from an empty LRU pool");
  lru_unlink(b);
  auto& blk = blocks_[b];
  cached_.erase(blk.sequence_hash);
  if (removed != nullptr)
    removed->push_back(blk.sequence_hash);
  blk.registered = false;
  blk.sequence_hash = 0;
  blk.local_hash = 0;
  blk.parent_hash = 0;
  blk.has_parent = false;
  return b;
}

void kv_block_manager::emit(engine::kv_event&& ev) {
  if (!sink_)
    return;
  ev.event_id = next_event_id_++;
  sink_(ev);
}

} // namespace dynamo::batching
