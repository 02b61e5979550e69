#include "dynamo/actors/wire/generate_codec.hpp"

#include "dynamo/capnp/wire.hpp"
#include "dynamo/error.hpp"

#include <capnp/serialize.h>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <string>

namespace dynamo::actors::wire {

namespace {

/// Limits for reading untrusted flat messages (8 MiB of words, shallow nesting).
::capnp::ReaderOptions untrusted_options() {
  ::capnp::ReaderOptions opts;
  opts.traversalLimitInWords = 1u << 20;
  opts.nestingLimit = 16;
  return opts;
}

caf::error invalid(std::string what) {
  return make_error(errc::invalid_request, "malformed generate message", std::move(what));
}

caf::expected<engine::finish_reason> decode_finish(schema::FinishReason x) {
  auto raw = static_cast<uint16_t>(x);
  if (raw > static_cast<uint16_t>(engine::finish_reason::error))
    return invalid(fmt::format("unknown finish reason {}", raw));
  return static_cast<engine::finish_reason>(raw);
}

template <class List>
caf::expected<std::vector<engine::token_id>> decode_tokens(List in, size_t max,
                                                           std::string_view field) {
  if (in.size() > max)
    return invalid(fmt::format("{} has {} entries, more than {}", field, in.size(), max));
  std::vector<engine::token_id> out;
  out.reserve(in.size());
  for (auto t : in)
    out.push_back(t);
  return out;
}

template <class T, class Schema, class Decoder>
caf::expected<T> decode_flat(const uint8_t* data, size_t size, Decoder&& decoder) {
  if (size == 0 || size % sizeof(::capnp::word) != 0)
    return invalid(fmt::format("a flat message of {} bytes is not whole words", size));
  // Copy into word-aligned storage: network buffers carry no alignment guarantee.
  auto words = kj::heapArray<::capnp::word>(size / sizeof(::capnp::word));
  std::memcpy(words.begin(), data, size);
  return capnp::decode_guarded("flat message", [&words, &decoder]() -> caf::expected<T> {
    ::capnp::FlatArrayMessageReader reader{words, untrusted_options()};
    return decoder(reader.getRoot<Schema>());
  });
}

} // namespace

void encode(const generate_request& x, schema::GenerateRequest::Builder out) {
  out.setId(x.id);
  out.setModel(capnp::as_text(x.model));
  auto tokens = out.initTokens(static_cast<unsigned>(x.tokens.size()));
  for (size_t i = 0; i < x.tokens.size(); ++i)
    tokens.set(static_cast<unsigned>(i), x.tokens[i]);
  out.setTemperature(x.sampling.temperature);
  out.setTopP(x.sampling.top_p);
  out.setTopK(x.sampling.top_k);
  if (x.sampling.seed)
    out.getSeed().setValue(*x.sampling.seed);
  else
    out.getSeed().setNone();
  out.setMaxTokens(x.stop.max_tokens);
  auto stops = out.initStopTokenIds(static_cast<unsigned>(x.stop.stop_token_ids.size()));
  for (size_t i = 0; i < x.stop.stop_token_ids.size(); ++i)
    stops.set(static_cast<unsigned>(i), x.stop.stop_token_ids[i]);
  out.setIgnoreEos(x.stop.ignore_eos);
  out.setDeadlineUnixMs(x.deadline_unix_ms);
  out.setOverlapWeight(x.routing.overlap_weight);
  out.setRouterTemperature(x.routing.temperature);
  out.setPrefillWorker(x.prefill_worker);
}

void encode(const token_chunk& x, schema::TokenChunk::Builder out) {
  auto tokens = out.initTokens(static_cast<unsigned>(x.tokens.size()));
  for (size_t i = 0; i < x.tokens.size(); ++i)
    tokens.set(static_cast<unsigned>(i), x.tokens[i]);
  out.setFinish(static_cast<schema::FinishReason>(x.finish));
  out.setPromptTokens(x.prompt_tokens);
  out.setCachedPromptTokens(x.cached_prompt_tokens);
}

void encode(const generate_summary& x, schema::GenerateSummary::Builder out) {
  out.setWorkerInstance(x.worker_instance);
  out.setPromptTokens(x.prompt_tokens);
  out.setCachedPromptTokens(x.cached_prompt_tokens);
  out.setCompletionTokens(x.completion_tokens);
  out.setFinish(static_cast<schema::FinishReason>(x.finish));
}

caf::expected<generate_request> decode(schema::GenerateRequest::Reader in,
                                       const wire_limits& limits) {
  return capnp::decode_guarded("generate request", [&in, &limits]() -> caf::expected<generate_request> {
    generate_request x;
    x.id = in.getId();
    auto model = capnp::read_text(in.getModel(), limits.max_model_bytes, "model");
    if (!model)
      return std::move(model.error());
    x.model = std::move(*model);
    auto tokens = decode_tokens(in.getTokens(), limits.max_tokens, "tokens");
    if (!tokens)
      return std::move(tokens.error());
    x.tokens = std::move(*tokens);
    x.sampling.temperature = in.getTemperature();
    x.sampling.top_p = in.getTopP();
    x.sampling.top_k = in.getTopK();
    if (!std::isfinite(x.sampling.temperature) || x.sampling.temperature < 0)
      return invalid(fmt::format("temperature {} is not a finite value >= 0",
                                 x.sampling.temperature));
    if (!std::isfinite(x.sampling.top_p) || x.sampling.top_p < 0)
      return invalid(fmt::format("top_p {} is not a finite value >= 0", x.sampling.top_p));
    if (x.sampling.top_k < 0)
      return invalid(fmt::format("top_k {} is negative", x.sampling.top_k));
    auto seed = in.getSeed();
    switch (seed.which()) {
      case schema::GenerateRequest::Seed::NONE:
        break;
      case schema::GenerateRequest::Seed::VALUE:
        x.sampling.seed = seed.getValue();
        break;
      default:
        return invalid("unknown seed variant");
    }
    x.stop.max_tokens = in.getMaxTokens();
    if (x.stop.max_tokens == 0)
      return invalid("max_tokens is 0");
    auto stops = decode_tokens(in.getStopTokenIds(), limits.max_stop_token_ids,
                               "stop_token_ids");
    if (!stops)
      return std::move(stops.error());
    x.stop.stop_token_ids = std::move(*stops);
    x.stop.ignore_eos = in.getIgnoreEos();
    x.deadline_unix_ms = in.getDeadlineUnixMs();
    if (x.deadline_unix_ms < 0)
      return invalid(fmt::format("deadline {} is negative", x.deadline_unix_ms));
    x.routing.overlap_weight = in.getOverlapWeight();
    x.routing.temperature = in.getRouterTemperature();
    if (!std::isfinite(x.routing.overlap_weight) || !std::isfinite(x.routing.temperature))
      return invalid("a routing hint is not finite");
    x.prefill_worker = in.getPrefillWorker();
    return x;
  });
}

caf::expected<token_chunk> decode(schema::TokenChunk::Reader in, const wire_limits& limits) {
  return capnp::decode_guarded("token chunk", [&in, &limits]() -> caf::expected<token_chunk> {
    token_chunk x;
    auto tokens = decode_tokens(in.getTokens(), limits.max_tokens, "tokens");
    if (!tokens)
      return std::move(tokens.error());
    x.tokens = std::move(*tokens);
    auto finish = decode_finish(in.getFinish());
    if (!finish)
      return std::move(finish.error());
    x.finish = *finish;
    x.prompt_tokens = in.getPromptTokens();
    x.cached_prompt_tokens = in.getCachedPromptTokens();
    if (x.cached_prompt_tokens > x.prompt_tokens)
      return invalid("more cached prompt tokens than prompt tokens");
    return x;
  });
}

caf::expected<generate_summary> decode(schema::GenerateSummary::Reader in) {
  return capnp::decode_guarded("generate summary", [&in]() -> caf::expected<generate_summary> {
    generate_summary x;
    x.worker_instance = in.getWorkerInstance();
    x.prompt_tokens = in.getPromptTokens();
    x.cached_prompt_tokens = in.getCachedPromptTokens();
    x.completion_tokens = in.getCompletionTokens();
    if (x.cached_prompt_tokens > x.prompt_tokens)
      return invalid("more cached prompt tokens than prompt tokens");
    auto finish = decode_finish(in.getFinish());
    if (!finish)
      return std::move(finish.error());
    x.finish = *finish;
    return x;
  });
}

caf::expected<generate_request> decode_generate_request(const uint8_t* data, size_t size) {
  return decode_flat<generate_request, schema::GenerateRequest>(
    data, size, [](schema::GenerateRequest::Reader r) { return decode(r); });
}

caf::expected<token_chunk> decode_token_chunk(const uint8_t* data, size_t size) {
  return decode_flat<token_chunk, schema::TokenChunk>(
    data, size, [](schema::TokenChunk::Reader r) { return decode(r); });
}

caf::expected<generate_summary> decode_generate_summary(const uint8_t* data, size_t size) {
  return decode_flat<generate_summary, schema::GenerateSummary>(
    data, size, [](schema::GenerateSummary::Reader r) { return decode(r); });
}

} // namespace dynamo::actors::wire
