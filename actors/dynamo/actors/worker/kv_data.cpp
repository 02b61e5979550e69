#include "dynamo/actors/worker/kv_data.hpp"

#include "dynamo/error.hpp"
#include "dynamo/runtime.hpp"

#include <fmt/format.h>

#include <utility>

namespace dynamo::actors {

void kv_data::announce(instance_registration& reg) const {
  if (pool.base == nullptr || layout.layers == 0)
    return;
  reg.data_address = encode_descriptor(pool.descriptor);
  reg.extra[kv_layout_key] = disagg::encode_layout(layout);
}

caf::expected<std::shared_ptr<kv_data>> make_kv_data(runtime& rt, const std::string& agent_name) {
  auto agent = rt.make_data_agent(agent_name);
  if (!agent)
    return std::move(agent.error());
  auto data = std::make_shared<kv_data>();
  data->agent = std::shared_ptr<data_plane>{std::move(*agent)};
  return data;
}

engine::kv_memory_provider pool_provider(std::shared_ptr<kv_data> data) {
  return [data = std::move(data)](uint64_t bytes) -> caf::expected<std::byte*> {
    if (data->pool.base != nullptr)
      return make_error(errc::internal, "the KV pool was allocated twice",
                        fmt::format("agent {} already holds KV pool region {}",
                                    data->agent->agent(), data->pool.descriptor.region_id));
    auto region = data->agent->allocate_region(static_cast<size_t>(bytes));
    if (!region)
      return std::move(region.error());
    data->pool = std::move(*region);
    return data->pool.base;
  };
}

caf::error attach_engine(kv_data& data, engine::engine& eng, uint32_t block_size) {
  auto view = eng.kv_pool();
  if (view.empty()) {
    data.layout = {};
    return caf::none;
  }
  // Transfers address the pool by offsets from the region's start: the pool must begin there.
  if (data.pool.base == nullptr || view.base != data.pool.base
      || view.bytes() > data.pool.descriptor.size)
    return make_error(errc::internal, "the engine's KV pool is not in data-plane memory",
                      fmt::format("engine {} pool at {} ({} bytes) vs region {} at {} ({} bytes)",
                                  eng.name(), static_cast<const void*>(view.base), view.bytes(),
                                  data.pool.descriptor.region_id,
                                  static_cast<const void*>(data.pool.base),
                                  data.pool.descriptor.size));
  data.layout = disagg::layout_of(view, block_size);
  return caf::none;
}

caf::expected<peer_pool> peer_pool_of(const instance_registration& reg) {
  auto layout_pos = reg.extra.find(kv_layout_key);
  if (reg.data_address.empty() && layout_pos == reg.extra.end())
    return make_error(errc::not_found, "the peer replica has no data-plane pool",
                      "its registration carries neither data_address nor kv_layout");
  if (reg.data_address.empty() || layout_pos == reg.extra.end())
    return make_error(errc::invalid_request, "the peer replica's data-plane pool is malformed",
                      reg.data_address.empty() ? "kv_layout without data_address"
                                               : "data_address without kv_layout");
  auto region = decode_descriptor(reg.data_address);
  if (!region)
    return std::move(region.error());
  auto layout = disagg::decode_layout(layout_pos->second);
  if (!layout)
    return std::move(layout.error());
  if (layout->bytes() > region->size)
    return make_error(errc::invalid_request, "the peer replica's data-plane pool is malformed",
                      fmt::format("kv_layout of {} bytes exceeds its region of {} bytes",
                                  layout->bytes(), region->size));
  return peer_pool{std::move(*region), *layout};
}

} // namespace dynamo::actors
