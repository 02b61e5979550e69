// Internal: the decode role of a worker (disaggregated serving). Per prompt it reserves KV
// blocks, decides by the disaggregation policy whether a prefill worker computes them, sends the
// remote prefill and continues decoding from its first token; failures free the blocks only once
// the prefill worker can no longer write them, then prefill locally or fail the request.
#pragma once

#include "dynamo/actors/worker/worker_state.hpp"

#include <caf/actor_addr.hpp>
#include <caf/error.hpp>

#include <cstdint>

namespace dynamo::actors::detail {

/// Makes the decode role (policy from cfg.disagg and the pool's bytes per token, metrics).
/// Errors: invalid_request for bad disagg settings or timeout. Actor thread, before serving.
caf::error init_decode(worker_pointer self);

/// Watches the prefill components this replica is connected to (none: it prefills locally).
/// Errors: those of watch_peers. Actor thread, after registration.
caf::error watch_prefill_peers(worker_pointer self);

/// Admits `req` on a decode worker: a remote prefill (blocks reserved, request sent) or a local
/// one. Errors: those of engine::admit for a local prefill. The caller then tracks `req` as
/// active. Actor thread.
caf::error admit_decode(worker_pointer self, const generate_request& req);

/// True when `id` awaits a remote prefill: asks its prefill worker to stop and keeps the blocks
/// until that worker replied (the caller answers its client). False otherwise. Actor thread.
bool cancel_awaiting(worker_pointer self, request_id id);

/// True when `addr` was a prefill peer: takes it out of the live set and fails (fallback or
/// error) the prefills awaiting it. Actor thread.
bool prefill_peer_down(worker_pointer self, const caf::actor_addr& addr);

/// Applies a prefill peer's discovery change. Ignored by workers without the decode role.
/// Actor thread.
void on_prefill_peer(worker_pointer self, peer_change& change);

/// Remote prefill `id` (attempt `attempt`) is late: tells its prefill worker to stop; the
/// blocks are freed when that worker confirms (or its reply times out). Actor thread.
void on_remote_due(worker_pointer self, request_id id, uint64_t attempt);

/// Tries to reconnect a suspended prefill peer. Actor thread.
void on_prefill_retry(worker_pointer self, uint64_t instance);

/// Adds the decode role's counts to `out` (nothing without the role). Actor thread.
void fill_decode_stats(const worker_state& st, worker_stats& out);

} // namespace dynamo::actors::detail
