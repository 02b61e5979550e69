#include "dynamo/reference/reference_config.hpp"

#include "dynamo/error.hpp"

#include <fmt/format.h>

namespace dynamo::reference {

namespace {

constexpr uint32_t max_threads = 1024;

} // namespace

caf::error validate(const reference_config& cfg) {
  if (auto err = batching::validate(cfg, "reference"))
    return err;
  if (cfg.model_dir.empty())
    return make_error(errc::invalid_request, "reference: model_dir must not be empty");
  if (cfg.threads > max_threads)
    return make_error(errc::invalid_request,
                      fmt::format("reference: threads must be at most {}, got {}", max_threads,
                                  cfg.threads));
  if (cfg.kv_cache_bytes == 0)
    return make_error(errc::invalid_request, "reference: kv_cache_bytes must be at least 1");
  return {};
}

} // namespace dynamo::reference
