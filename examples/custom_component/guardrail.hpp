// A user-written component: a guardrail that sits between the frontend and the router and
// rejects prompts containing configured words with a 400 — the template for extending libdynamo
// with a new component actor. It provides and requires the generate interface, so it fits
// anywhere a generate edge goes.
#pragma once

#include "dynamo/actors/messages.hpp"
#include "dynamo/actors/peers.hpp"
#include "dynamo/component.hpp"

#include <string>
#include <vector>

namespace guardrail_example {

/// The guardrail's settings: words (case-insensitive) that make a prompt be rejected.
struct guardrail_config {
  std::vector<std::string> blocked_words = {"forbidden"};
  /// Registers "--<prefix>.blocked-words a,b,c".
  void bind(dynamo::option_set& opts, const std::string& prefix);
};

/// The guardrail's typed interface: generate + drain + peer updates.
using guardrail_actor = dynamo::actors::generate_actor::extend_with<dynamo::lifecycle_actor>::extend<
  caf::reacts_to<dynamo::actors::peer_atom, dynamo::actors::peer_change>>;

/// The graph component.
struct guardrail {
  using config = guardrail_config;
  using provides = dynamo::interfaces<dynamo::actors::generate_api>;
  using requires_ = dynamo::interfaces<dynamo::actors::generate_api>;
  static constexpr std::string_view kind = "guardrail";
  /// Spawns one replica serving "<ns>.<name>.generate".
  static caf::actor spawn(dynamo::component_context& ctx, const config& cfg);
};

/// Decodes byte-level prompt tokens and returns the first blocked word found, or "".
std::string find_blocked_word(const std::vector<dynamo::engine::token_id>& tokens,
                              const std::vector<std::string>& blocked_words);

} // namespace guardrail_example
