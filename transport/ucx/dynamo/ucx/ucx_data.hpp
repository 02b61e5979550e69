// The data plane over UCX: one agent per worker process, one-sided put/get of KV blocks between
// registered regions of agents in any processes of one host or network.
//
// Threading: each agent owns one UCP context and one worker (UCP_THREAD_MODE_SINGLE), driven by
// a dedicated progress thread that never runs actor code. Every public call funnels its UCX work
// through a queue onto that thread (woken through an eventfd); the thread sleeps on the worker's
// event fd while idle and busy-polls while transfers are in flight. on_done callbacks run on it.
//
// Addressing: a region's descriptor carries, in remote_key, the owner's UCP worker address, the
// region's base address, its packed rkey and the owner's agent name and region id. A peer
// creates one endpoint per owner worker and unpacks each rkey once (both cached), so publishing
// the descriptor once (discovery metadata, encode_descriptor) is enough.
//
// Failures: endpoints use UCP_ERR_HANDLING_MODE_NONE by default, because UCX 1.13 selects no
// shared-memory transport for endpoints with peer error handling (only TCP). A dead or wedged
// peer therefore surfaces as deadline_exceeded at transfer_timeout; its endpoint is then closed,
// its other transfers fail with disconnected, and requests UCX cannot purge are abandoned (their
// local region is released; UCX drops them with the worker). ucx_options::detect_peer_failure
// trades the shared-memory lanes for prompt disconnected errors.
//
// Limits: a descriptor whose region the owner (another process) has since deregistered cannot
// be detected by the peer. For regions from allocate_region (UCX-allocated shared memory) such a
// late write lands in memory nobody reads any more; for register_region memory the owner must
// not deregister while peers may still transfer (disaggregation releases blocks only after the
// transfer's completion was signalled). Descriptors naming another agent or region than their
// remote_key was made for are refused with not_found.
#pragma once

#include "dynamo/log.hpp"
#include "dynamo/plane/data.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace dynamo::ucx {

/// Settings of one UCX agent.
struct ucx_options {
  /// The agent's name as carried in its descriptors; empty: "ucx-<pid>-<n>".
  std::string agent;
  /// Bound of every transfer: past it on_done gets deadline_exceeded and the endpoint to that
  /// peer is closed (its other transfers fail with disconnected).
  std::chrono::milliseconds transfer_timeout{30000};
  /// UCX transports (UCX_TLS syntax, e.g. "sysv,posix,cma,self" or "tcp,self"); empty: UCX's
  /// own choice (all available).
  std::string transports;
  /// Endpoints with UCP_ERR_HANDLING_MODE_PEER: a dead peer fails its transfers with
  /// disconnected as soon as UCX notices. UCX 1.13 offers no shared-memory transport with peer
  /// failure detection, so this restricts endpoints to TCP (about 10x slower on one host);
  /// off, a dead peer's transfers end with deadline_exceeded at transfer_timeout.
  bool detect_peer_failure = false;
  /// With detect_peer_failure: how often UCX probes connected peers (UCX_KEEPALIVE_INTERVAL): a dead peer is noticed
  /// within a few intervals even when no transfer to it is pending.
  std::chrono::milliseconds keepalive_interval{1000};
  /// Bound of the agent's shutdown: in-flight transfers get this long to finish before their
  /// endpoints are force-closed.
  std::chrono::milliseconds shutdown_timeout{2000};
  /// Defaults to default_logger("data", agent).
  logger_ptr log;
};

/// Starts a UCX agent (context, worker, progress thread) and logs the transports UCX found.
/// Errors: unavailable when UCX cannot be initialised (no usable or no such transport, out of
/// resources); invalid_request for a non-positive transfer_timeout or transports UCX's option
/// parser rejects. Any thread; the agent is thread-safe.
caf::expected<std::unique_ptr<data_plane>> make_ucx_agent(ucx_options opts);

} // namespace dynamo::ucx
