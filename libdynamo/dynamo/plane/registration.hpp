// Typed registration metadata: what a replica publishes about itself in its discovery record
// (endpoints with interface versions, where to reach it, capacity facts), and the mapping to
// and from the record's string map. Records come from other processes, so decoding validates
// every typed key and never trusts the bytes.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace dynamo {

/// Facts about what a replica can hold and serve; each is optional (absent = not published).
struct capacity_facts {
  std::optional<std::string> model;         ///< Served model name; non-empty.
  std::optional<uint32_t> kv_block_size;    ///< Tokens per KV block; >= 1.
  std::optional<uint64_t> total_kv_blocks;  ///< KV blocks in the replica's pool.
  std::optional<std::string> hash_scheme;   ///< Block hash scheme ("xxh3-64:seed=1337").
  std::optional<uint32_t> max_num_seqs;     ///< Most sequences batched at once; >= 1.
  /// Checkpoint directory of the served model (tokenizer.json, tokenizer_config.json), as a
  /// path that frontends on the same storage can read; absent for a model without files.
  std::optional<std::string> model_path;

  friend bool operator==(const capacity_facts&, const capacity_facts&) = default;
};

/// The metadata of one replica's discovery record, typed.
///
/// Keys: "endpoints" = comma-separated `name@version` sorted by name (a bare `name`, as older
/// writers publish it, reads as version 1); "rpc_address" = "host:port" of the request plane;
/// "data_address" = opaque data-plane address; "model", "kv_block_size", "total_kv_blocks",
/// "hash_scheme", "max_num_seqs", "model_path" = capacity facts (numbers in canonical
/// decimal). Every other key is kept in `extra`. Absent or empty fields are not written.
struct instance_registration {
  /// Served endpoints: name ([A-Za-z0-9_-]+) -> interface version (>= 1).
  std::map<std::string, uint32_t> endpoints;
  /// Where the request plane reaches this replica ("host:port"); empty for in-process.
  std::string rpc_address;
  /// Where the data plane reaches this replica (backend-specific, opaque); empty for none.
  std::string data_address;
  /// Capacity facts (workers).
  capacity_facts capacity;
  /// Free-form keys ("interfaces", "engine", "http_address", ...). Keys must be non-empty and
  /// not reserved (is_reserved_registration_key); to_metadata() drops entries that are.
  std::map<std::string, std::string> extra;

  /// The discovery metadata of this registration; typed fields win over `extra`. Any thread.
  std::map<std::string, std::string> to_metadata() const;

  /// Decodes discovery metadata (from any peer). Errors: invalid_request naming the offending
  /// key for an empty key, a malformed endpoint list or interface version, a malformed or
  /// out-of-range number, an invalid rpc_address, or an empty value of a typed key. Any thread.
  static caf::expected<instance_registration>
  from_metadata(const std::map<std::string, std::string>& metadata);

  friend bool operator==(const instance_registration&, const instance_registration&) = default;
};

/// Metadata keys with a typed field in instance_registration. Any thread.
bool is_reserved_registration_key(std::string_view key) noexcept;

/// True for "host:port" with a non-empty host (no whitespace or control characters; IPv6
/// hosts in brackets) and a decimal port in [1, 65535]. Any thread.
bool is_valid_host_port(std::string_view address) noexcept;

} // namespace dynamo
