#include "dynamo/model/synthesize.hpp"

#include "dynamo/error.hpp"
#include "dynamo/model/checkpoint.hpp"
#include "dynamo/model/file_util.hpp"
#include "dynamo/model/synth_tokenizer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace dynamo::model {

namespace {

namespace fs = std::filesystem;

caf::error invalid(std::string message) {
  return make_error(errc::invalid_request, fmt::format("synth: {}", message));
}

// --- weights ----------------------------------------------------------------------------------

/// splitmix64: tiny, fast and identical on every platform.
class splitmix64 {
public:
  explicit splitmix64(uint64_t seed) noexcept : state_(seed) {}

  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  /// Uniform in [-1, 1) with 24 bits of resolution (exact in float).
  float symmetric() noexcept {
    return static_cast<float>(next() >> 40) * 0x1p-23f - 1.0f;
  }

private:
  uint64_t state_;
};

uint64_t fnv1a(std::string_view text) noexcept {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

/// The values of one tensor: a pure function of the seed, the tensor's name and shape, so that
/// sharding or tensor order never changes them. Scales keep activations O(1) through the layers:
/// projections have standard deviation 1/sqrt(fan_in), norms are near 1, and embeddings are
/// scaled so that tied logits have a standard deviation of about 4 (peaked, not degenerate).
/// The projections that write into the residual stream (o_proj, down_proj) have 4x that gain:
/// otherwise the input embedding dominates the final hidden state and a tied model mostly
/// repeats its last input token (90% of greedy steps instead of about half).
std::vector<float> synth_values(uint64_t seed, const tensor_spec& spec) {
  size_t n = 1;
  for (auto d : spec.shape)
    n *= static_cast<size_t>(d);
  std::vector<float> out(n);
  splitmix64 rng{seed ^ fnv1a(spec.name)};
  rng.next();
  const std::string_view name = spec.name;
  const bool norm = ends_with(name, "norm.weight");
  float center = 0.0f;
  float half_width = 0.0f;  // of a uniform distribution: stddev * sqrt(3)
  if (norm) {
    center = 1.0f;
    half_width = 0.1f;
  } else if (ends_with(name, ".bias")) {
    half_width = 0.5f;
  } else if (name == "model.embed_tokens.weight" || name == "lm_head.weight") {
    half_width = 4.0f * std::sqrt(3.0f / static_cast<float>(spec.shape[1]));
  } else {
    const bool residual_write =
      ends_with(name, "o_proj.weight") || ends_with(name, "down_proj.weight");
    const float gain = residual_write ? 4.0f : 1.0f;
    half_width = gain * std::sqrt(3.0f / static_cast<float>(spec.shape[1]));
  }
  for (auto& x : out)
    x = center + half_width * rng.symmetric();
  return out;
}

std::string shard_name(uint32_t index, uint32_t count) {
  return fmt::format("model-{:05}-of-{:05}.safetensors", index + 1, count);
}

/// Splits tensors (in module order) into `count` consecutive groups of about equal bytes.
std::vector<std::vector<tensor_data>> split_shards(std::vector<tensor_data> tensors,
                                                   uint32_t count) {
  uint64_t total = 0;
  for (const auto& t : tensors)
    total += t.bytes.size();
  std::vector<std::vector<tensor_data>> shards(count);
  uint64_t done = 0;
  size_t shard = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const size_t left = tensors.size() - i;
    const size_t shards_left_after = count - shard - 1;
    // Move on once this shard has its share, keeping one tensor for every later shard.
    if (!shards[shard].empty() && shard + 1 < count
        && (done * count >= total * (shard + 1) || left <= shards_left_after))
      ++shard;
    done += tensors[i].bytes.size();
    shards[shard].push_back(std::move(tensors[i]));
  }
  return shards;
}

caf::error write_weights(const synth_spec& spec, const model_config& cfg, const fs::path& dir,
                         const logger_ptr& log) {
  std::vector<tensor_data> tensors;
  uint64_t parameters = 0;
  for (const auto& t : expected_tensors(cfg)) {
    auto values = synth_values(spec.seed, t);
    parameters += values.size();
    tensors.push_back({t.name, spec.weight_dtype, t.shape, from_f32(values, spec.weight_dtype)});
  }
  log->info("synth: generated {} tensors, {} parameters ({})", tensors.size(), parameters,
            to_string(spec.weight_dtype));
  const std::map<std::string, std::string> metadata{{"format", "pt"}};
  if (spec.shards == 1)
    return write_safetensors(dir / "model.safetensors", tensors, metadata);
  uint64_t total = 0;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  auto shards = split_shards(std::move(tensors), spec.shards);
  std::map<std::string, std::string> names;  // sorted, as transformers writes them
  for (uint32_t s = 0; s < spec.shards; ++s) {
    const auto file = shard_name(s, spec.shards);
    for (const auto& t : shards[s]) {
      names.emplace(t.name, file);
      total += t.bytes.size();
    }
    if (auto err = write_safetensors(dir / file, shards[s], metadata))
      return err;
    shards[s].clear();
  }
  for (const auto& [name, file] : names)
    weight_map[name] = file;
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total}};
  index["weight_map"] = std::move(weight_map);
  return write_text_file(dir / "model.safetensors.index.json", index.dump(2) + "\n");
}

// --- directories ------------------------------------------------------------------------------

/// A temporary directory that is removed unless released.
class scratch_dir {
public:
  caf::error create(const fs::path& sibling_of) {
    std::string pattern =
      (sibling_of.parent_path() / ("." + sibling_of.filename().string() + ".synth-XXXXXX"))
        .string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      return invalid(fmt::format("cannot create a temporary directory beside {}: {}",
                                 sibling_of.string(), std::strerror(errno)));
    path_ = buf.data();
    return {};
  }

  ~scratch_dir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }

  const fs::path& path() const noexcept { return path_; }

  void release() noexcept { path_.clear(); }

private:
  fs::path path_;
};

bool non_empty_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec));
}

/// Renames `from` to `to`; a non-empty `to` is replaced only when `overwrite`.
caf::error move_into_place(const fs::path& from, const fs::path& to, bool overwrite) {
  if (::rename(from.c_str(), to.c_str()) == 0)
    return {};
  const int err = errno;
  if (err != ENOTEMPTY && err != EEXIST && err != ENOTDIR)
    return invalid(fmt::format("cannot rename into {}: {}", to.string(), std::strerror(err)));
  if (!overwrite)
    return invalid(fmt::format("{} exists and is not empty (pass overwrite / --force to replace "
                               "it)",
                               to.string()));
  scratch_dir trash;
  if (auto e = trash.create(to))
    return e;
  const fs::path old = trash.path() / "old";
  if (::rename(to.c_str(), old.c_str()) != 0)
    return invalid(fmt::format("cannot move {} aside: {}", to.string(), std::strerror(errno)));
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int rename_err = errno;
    ::rename(old.c_str(), to.c_str());  // best effort: put the previous content back
    return invalid(fmt::format("cannot rename into {}: {}", to.string(),
                               std::strerror(rename_err)));
  }
  return {};
}

fs::path normalized(const fs::path& dir) {
  fs::path out = fs::absolute(dir).lexically_normal();
  if (out.filename().empty())
    out = out.parent_path();
  return out;
}

/// True when `dir` holds a complete checkpoint synthesized from a spec equal to `spec`.
bool holds(const fs::path& dir, const synth_spec& spec) {
  auto text = read_file(dir / "synth.json");
  if (!text)
    return false;
  auto marker = parse_synth_spec(*text);
  return marker && marker->same_model(spec) && static_cast<bool>(open_checkpoint(dir));
}

} // namespace

caf::error synthesize(const synth_spec& spec, const fs::path& target, logger_ptr log) {
  if (!log)
    log = default_logger("synth");
  if (auto err = validate(spec))
    return err;
  const fs::path dir = normalized(target);
  if (dir.filename().empty() || dir == dir.root_path())
    return invalid(fmt::format("invalid output directory '{}'", target.string()));
  if (non_empty_dir(dir) && !spec.overwrite)
    return invalid(fmt::format("{} exists and is not empty (pass overwrite / --force to replace "
                               "it)",
                               dir.string()));
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  if (ec)
    return invalid(fmt::format("cannot create {}: {}", dir.parent_path().string(), ec.message()));

  log->info("synth: {} layers={} hidden={} heads={}/{} intermediate={} vocab={} context={} "
            "seed={} {} tokenizer={} -> {}",
            spec.architecture, spec.layers, spec.hidden, spec.heads, spec.kv_heads,
            spec.intermediate, spec.vocab, spec.context, spec.seed, to_string(spec.weight_dtype),
            spec.tokenizer, dir.string());
  auto tok = make_synth_tokenizer(spec);
  if (!tok)
    return std::move(tok.error());
  log->info("synth: trained a {} tokenizer with {} tokens", spec.tokenizer, tok->vocab_used);
  const model_config cfg = synth_model_config(spec, tok->bos, tok->eos);
  const std::string config_json = to_json(cfg);
  if (auto parsed = parse_model_config(config_json); !parsed || *parsed != cfg)
    on_internal_error("synthesized config.json does not round-trip");
  generation_config generation;
  generation.bos_token_id = tok->bos;
  generation.eos_token_ids = tok->eos;

  scratch_dir scratch;
  if (auto err = scratch.create(dir))
    return err;
  const fs::path& out = scratch.path();
  if (auto err = write_weights(spec, cfg, out, log))
    return err;
  const std::pair<const char*, const std::string*> texts[] = {
    {"config.json", &config_json},
    {"tokenizer.json", &tok->tokenizer_json},
    {"tokenizer_config.json", &tok->tokenizer_config_json},
    {"special_tokens_map.json", &tok->special_tokens_map_json},
  };
  for (const auto& [name, text] : texts)
    if (auto err = write_text_file(out / name, *text))
      return err;
  if (auto err = write_text_file(out / "generation_config.json", to_json(generation)))
    return err;
  if (auto err = write_text_file(out / "synth.json", to_json(spec)))
    return err;
  ::chmod(out.c_str(), 0755);  // mkdtemp makes it 0700
  if (auto err = move_into_place(out, dir, spec.overwrite))
    return err;
  scratch.release();
  log->info("synth: wrote {}", dir.string());
  return {};
}

caf::expected<fs::path> ensure_synthesized(const synth_spec& spec, const fs::path& target,
                                           logger_ptr log) {
  if (!log)
    log = default_logger("synth");
  if (auto err = validate(spec))
    return err;
  const fs::path dir = normalized(target);
  if (holds(dir, spec)) {
    log->debug("synth: reusing {}", dir.string());
    return dir;
  }
  std::error_code ec;
  const bool ours = fs::exists(dir / "synth.json", ec);
  if (non_empty_dir(dir) && !ours)
    return invalid(fmt::format("{} exists and is not a synthesized model; refusing to replace it",
                               dir.string()));
  auto fresh = spec;
  fresh.overwrite = ours;
  if (auto err = synthesize(fresh, dir, log)) {
    if (holds(dir, spec))  // another process finished the same model first
      return dir;
    return err;
  }
  return dir;
}

caf::expected<fs::path> ensure_synthesized(std::string_view preset, const fs::path& dir,
                                           logger_ptr log) {
  auto spec = synth_preset(preset);
  if (!spec)
    return std::move(spec.error());
  return ensure_synthesized(*spec, dir, std::move(log));
}

} // namespace dynamo::model
