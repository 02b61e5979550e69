// The engine interface: what a worker drives. An engine is single-threaded; the owning worker
// actor calls it from one thread at a time.
#pragma once

#include "dynamo/engine/types.hpp"

#include <caf/error.hpp>

#include <functional>
#include <string>

namespace dynamo::engine {

/// Receives KV events as the engine emits them (called synchronously from engine methods).
using kv_event_sink = std::function<void(const kv_event&)>;

/// An inference engine with continuous batching. Owned by exactly one worker; not thread-safe.
class engine {
public:
  virtual ~engine();

  /// Short engine name for logs and metrics ("mocker", "reference").
  virtual std::string name() const = 0;

  /// Queues a sequence. Errors: invalid_request (empty prompt, a prompt that can never fit in
  /// the KV cache or context, duplicate id), overloaded (waiting queue full).
  virtual caf::error admit(sequence_request req) = 0;

  /// Cancels a queued or running sequence and frees its KV blocks at once. Its next output (if
  /// any was pending) is not reported. Returns false if the id is unknown.
  virtual bool cancel(request_id id) = 0;

  /// True while some sequence is waiting or running.
  virtual bool has_work() const = 0;

  /// Runs one scheduler iteration (prefill chunks and/or one decode step for the batch).
  virtual step_result step() = 0;

  /// Current load and capacity.
  virtual engine_stats stats() const = 0;

  /// Installs the receiver of KV events (replaces any previous one; empty = discard).
  virtual void set_kv_event_sink(kv_event_sink sink) = 0;

  /// True if step() spends real time computing (then its owner gives it a thread of its own
  /// instead of blocking a shared scheduler thread). False by default.
  virtual bool computes() const noexcept { return false; }
};

} // namespace dynamo::engine
