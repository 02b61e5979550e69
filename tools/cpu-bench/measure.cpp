#include "measure.hpp"

#include "dynamo/reference/kernels.hpp"
#include "dynamo/reference/thread_pool.hpp"

#include <fmt/format.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <numeric>

namespace dynamo::cpu_bench {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Fills v with pseudo-random values in [-scale, scale) (a fast LCG: the values do not matter).
void fill_random(float* v, size_t n, uint64_t seed, float scale) {
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (size_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = (static_cast<float>(s >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f) * scale;
  }
}

// cblas_sgemm and openblas_set_num_threads, loaded at run time so the tool builds without
// OpenBLAS and the engine never links it.
class openblas {
public:
  openblas() {
    handle_ = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr)
      return;
    sgemm_ = reinterpret_cast<sgemm_fn>(dlsym(handle_, "cblas_sgemm"));
    set_threads_ = reinterpret_cast<set_threads_fn>(dlsym(handle_, "openblas_set_num_threads"));
  }
  ~openblas() {
    if (handle_ != nullptr)
      dlclose(handle_);
  }
  openblas(const openblas&) = delete;
  openblas& operator=(const openblas&) = delete;

  bool available() const {
    return sgemm_ != nullptr && set_threads_ != nullptr;
  }
  void set_threads(int n) const {
    set_threads_(n);
  }
  // Y[m, n] = X[m, k] W[n, k]^T, row-major.
  void gemm_nt(const float* x, const float* w, float* y, int m, int n, int k) const {
    constexpr int row_major = 101, no_trans = 111, trans = 112;
    sgemm_(row_major, no_trans, trans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
  }

private:
  using sgemm_fn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                            int, float, float*, int);
  using set_threads_fn = void (*)(int);
  void* handle_ = nullptr;
  sgemm_fn sgemm_ = nullptr;
  set_threads_fn set_threads_ = nullptr;
};

// Median seconds per call of fn(i) over `repeats` samples of at least ~50 ms each.
template <class F>
double time_calls(uint32_t repeats, F&& fn) {
  size_t calls = 0;
  fn(calls++);  // Warm-up.
  auto t0 = clock_type::now();
  fn(calls++);
  double one = seconds_since(t0);
  size_t per_sample = std::clamp<size_t>(static_cast<size_t>(0.05 / std::max(one, 1e-9)), 1, 10000);
  std::vector<double> samples;
  for (uint32_t r = 0; r < repeats; ++r) {
    auto s0 = clock_type::now();
    for (size_t i = 0; i < per_sample; ++i)
      fn(calls++);
    samples.push_back(seconds_since(s0) / static_cast<double>(per_sample));
  }
  return median(samples);
}

} // namespace

double median(std::vector<double>& samples) {
  if (samples.empty())
    return 0;
  std::sort(samples.begin(), samples.end());
  size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

double measure_bandwidth(uint32_t threads, size_t bytes, uint32_t repeats,
                         const progress_fn& progress) {
  size_t n = bytes / sizeof(float);
  std::unique_ptr<float[]> buf{new float[n]};
  reference::thread_pool pool{threads};
  // First touch by the threads that read it (pages land near them on NUMA machines).
  pool.parallel_for(n, [&buf](size_t begin, size_t end) {
    fill_random(buf.get() + begin, end - begin, begin, 1.0f);
  });
  std::vector<double> samples;
  std::atomic<float> sink{0};  // Keeps the reads from being optimized away.
  for (uint32_t r = 0; r < repeats; ++r) {
    progress(fmt::format("memory bandwidth: pass {}/{}", r + 1, repeats));
    auto t0 = clock_type::now();
    pool.parallel_for(n, [&buf, &sink](size_t begin, size_t end) {
      sink.store(reference::dot(buf.get() + begin, buf.get() + begin, end - begin),
                 std::memory_order_relaxed);
    });
    samples.push_back(static_cast<double>(bytes) / seconds_since(t0));
  }
  return median(samples);
}

std::vector<matmul_result> compare_matmul(uint32_t threads, size_t n, size_t k,
                                          const std::vector<size_t>& ms, uint32_t repeats,
                                          const progress_fn& progress) {
  // Enough distinct weight copies to exceed the last-level cache, so that small-m calls stream
  // W from memory as in a real decode step.
  size_t w_floats = n * k;
  size_t copies = std::clamp<size_t>((size_t{256} << 20) / (w_floats * sizeof(float)) + 1, 1, 64);
  std::vector<float> w(w_floats * copies);
  fill_random(w.data(), w.size(), 1, 0.05f);
  size_t max_m = *std::max_element(ms.begin(), ms.end());
  std::vector<float> x(max_m * k);
  fill_random(x.data(), x.size(), 2, 1.0f);
  std::vector<float> y(max_m * n);
  reference::thread_pool pool{threads};
  openblas blas;
  if (blas.available())
    blas.set_threads(static_cast<int>(pool.size()));
  std::vector<matmul_result> out;
  for (size_t m : ms) {
    matmul_result r;
    r.m = m;
    r.n = n;
    r.k = k;
    progress(fmt::format("matmul m={} n={} k={}: ours", m, n, k));
    r.ours_s = time_calls(repeats, [&](size_t call) {
      reference::matmul(pool, {x.data(), m, k, k}, w.data() + (call % copies) * w_floats,
                        nullptr, {y.data(), m, n, n});
    });
    if (blas.available()) {
      progress(fmt::format("matmul m={} n={} k={}: OpenBLAS", m, n, k));
      r.blas_s = time_calls(repeats, [&](size_t call) {
        blas.gemm_nt(x.data(), w.data() + (call % copies) * w_floats, y.data(),
                     static_cast<int>(m), static_cast<int>(n), static_cast<int>(k));
      });
    }
    out.push_back(r);
  }
  return out;
}

double weight_bytes(const model::model_config& cfg) {
  double h = cfg.hidden_size;
  double q = static_cast<double>(cfg.num_attention_heads) * cfg.head_dim;
  double kv = static_cast<double>(cfg.num_key_value_heads) * cfg.head_dim;
  double layer = h * (q + 2 * kv) + q * h + 3.0 * cfg.intermediate_size * h + 2 * h;
  if (cfg.attention_bias)
    layer += q + 2 * kv;
  return (layer * cfg.num_hidden_layers + static_cast<double>(cfg.vocab_size) * h + h) * sizeof(float);
}

std::vector<prefill_result> measure_prefill(reference::model_runner& runner,
                                            const std::vector<uint32_t>& lengths,
                                            uint32_t repeats, const progress_fn& progress) {
  const auto& cfg = runner.config();
  const uint32_t bs = runner.kv().geometry().block_size;
  std::vector<uint32_t> table(runner.kv().geometry().blocks);
  std::iota(table.begin(), table.end(), 0u);
  std::vector<float> logits;
  std::vector<prefill_result> out;
  for (uint32_t len : lengths) {
    std::vector<engine::token_id> tokens(len);
    for (uint32_t i = 0; i < len; ++i)
      tokens[i] = (i * 7919u + 13u) % cfg.vocab_size;
    std::vector<double> samples;
    for (uint32_t r = 0; r < repeats; ++r) {
      progress(fmt::format("prefill {} tokens: run {}/{}", len, r + 1, repeats));
      reference::forward_item item{tokens, 0, std::span{table}.first((len + bs - 1) / bs), true};
      auto t0 = clock_type::now();
      runner.forward({&item, 1}, logits);
      samples.push_back(seconds_since(t0));
    }
    out.push_back({len, median(samples)});
  }
  return out;
}

std::vector<decode_result> measure_decode(reference::model_runner& runner,
                                          const std::vector<uint32_t>& batches,
                                          uint32_t context, uint32_t steps,
                                          const progress_fn& progress) {
  const auto& cfg = runner.config();
  auto& kv = runner.kv();
  const auto& g = kv.geometry();
  const uint32_t per_seq = (context + steps + 1 + g.block_size - 1) / g.block_size;
  const double kv_bytes_per_pos = 2.0 * g.layers * g.kv_heads * g.head_dim * sizeof(float);
  std::vector<decode_result> out;
  std::vector<float> logits;
  for (uint32_t batch : batches) {
    progress(fmt::format("decode batch {}: filling {} cached positions", batch, batch * context));
    std::vector<std::vector<uint32_t>> tables(batch);
    for (uint32_t b = 0; b < batch; ++b) {
      tables[b].resize(per_seq);
      std::iota(tables[b].begin(), tables[b].end(), b * per_seq);
      for (uint32_t layer = 0; layer < g.layers; ++layer)
        for (uint32_t blk : tables[b])
          fill_random(kv.keys(layer, blk), 2 * g.half_floats(), blk * 131 + layer, 0.5f);
    }
    std::vector<engine::token_id> tokens(batch);
    std::vector<reference::forward_item> items(batch);
    std::vector<double> samples;
    for (uint32_t s = 0; s <= steps; ++s) {
      progress(fmt::format("decode batch {}: step {}/{}", batch, s, steps));
      for (uint32_t b = 0; b < batch; ++b) {
        tokens[b] = (b * 31u + s * 17u + 5u) % cfg.vocab_size;
        items[b] = {std::span{tokens}.subspan(b, 1), context + s, tables[b], true};
      }
      auto t0 = clock_type::now();
      runner.forward(items, logits);
      if (s > 0)  // Step 0 warms up the scratch buffers.
        samples.push_back(seconds_since(t0));
    }
    decode_result r;
    r.batch = batch;
    r.context = context;
    r.step_seconds = median(samples);
    r.bytes_per_step = weight_bytes(cfg)
                       + batch * (context + steps / 2.0 + 1) * kv_bytes_per_pos;
    out.push_back(r);
  }
  return out;
}

} // namespace dynamo::cpu_bench
