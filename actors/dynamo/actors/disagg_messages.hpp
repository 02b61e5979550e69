// The "prefill" endpoint of prefill workers (disaggregated serving): a decode worker that has
// reserved KV blocks for a prompt asks a prefill worker to compute the prompt and write its KV
// into those blocks over the data plane, then continues decoding from the first token.
#pragma once

#include "dynamo/actors/messages.hpp"

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dynamo::actors {

/// Asks a prefill worker to prefill a prompt into a decode worker's blocks.
using prefill_atom = caf::atom_constant<caf::atom("prefill")>;

/// A remote prefill: where the KV goes and what to compute.
struct remote_prefill_request {
  /// The request as the decode worker got it (prompt, sampling of the first token, deadline);
  /// request.id identifies it for cancellation.
  generate_request request;
  /// The decode replica whose discovery record (`<ns>/<decode_component>/<decode_instance>`)
  /// carries its data-plane descriptor and KV layout: resolved once per decode replica.
  std::string decode_component;
  uint64_t decode_instance = 0;
  /// The decode side's block table for the whole prompt (engine::remote_kv::blocks).
  std::vector<uint32_t> blocks;
  /// Leading prompt positions the decode side has cached: blocks [0, cached_tokens / block
  /// size) are not written.
  uint32_t cached_tokens = 0;
};

/// What a prefill worker reports once the KV is written (the decode worker then calls
/// engine::complete_remote with first_token).
struct remote_prefill_result {
  engine::token_id first_token = 0;  ///< Sampled from the prompt's last position.
  uint32_t prefill_cached_tokens = 0;  ///< Prompt positions the prefill worker had cached.
  uint64_t bytes = 0;          ///< KV bytes written into the decode worker's blocks.
  /// Service time: from when the prefill worker turned to this prompt (its admission, or the
  /// previous prompt's first token if later) to its first token. Queue-free, so that it
  /// measures throughput, not load.
  uint64_t prefill_us = 0;
  uint64_t transfer_us = 0;    ///< First token to the last byte written.
  uint64_t prefill_worker = 0; ///< The prefill worker's instance id.
  uint64_t queue_us = 0;       ///< Admission to the start of the service time.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, remote_prefill_request& x) {
  return f(caf::meta::type_name("remote_prefill_request"), x.request, x.decode_component,
           x.decode_instance, x.blocks, x.cached_tokens);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, remote_prefill_result& x) {
  return f(caf::meta::type_name("remote_prefill_result"), x.first_token,
           x.prefill_cached_tokens, x.bytes, x.prefill_us, x.transfer_us, x.prefill_worker,
           x.queue_us);
}

/// Prefills `request` and writes its KV into the decode worker's blocks, then replies. Errors:
/// invalid_request (bad prompt, block table that does not cover the prompt, KV layouts that
/// differ), not_found (decode replica or its data-plane region unknown), unavailable /
/// overloaded (no room now), disconnected (decode side gone mid-transfer), deadline_exceeded,
/// cancelled. Whatever happens, the prefill worker frees its own blocks for the request.
/// (cancel_atom, id, kind) stops a running remote prefill.
using prefill_actor
  = caf::typed_actor<caf::replies_to<prefill_atom, remote_prefill_request>::with<
                       remote_prefill_result>,
                     caf::reacts_to<cancel_atom, request_id, cancel_kind>>;

/// Interface tag: the "prefill" endpoint of prefill workers.
struct prefill_api {
  using handle_type = prefill_actor;
  static constexpr const char* name = "prefill";
};

} // namespace dynamo::actors
