// The measurements of dynamo-cpu-bench: memory bandwidth, our matmul against OpenBLAS, and
// prefill / decode throughput of the reference model_runner.
#pragma once

#include "dynamo/reference/model_runner.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dynamo::cpu_bench {

/// Reports progress ("what is running now") to the user; called from the bench thread.
using progress_fn = std::function<void(const std::string&)>;

/// Median of `samples` (which it sorts); 0 when empty.
double median(std::vector<double>& samples);

/// Read bandwidth in bytes/s: `threads` threads sum a `bytes`-sized buffer; median of
/// `repeats` passes.
double measure_bandwidth(uint32_t threads, size_t bytes, uint32_t repeats,
                         const progress_fn& progress);

/// One matmul shape timed with our kernel and, when available, OpenBLAS.
struct matmul_result {
  size_t m = 0, n = 0, k = 0;
  double ours_s = 0;   ///< Median seconds per call of dynamo::reference::matmul.
  double blas_s = 0;   ///< Median seconds per call of cblas_sgemm; 0 if OpenBLAS is missing.
};

/// Times Y[m, n] = X[m, k] W[n, k]^T for each m in `ms`, ours against OpenBLAS (loaded with
/// dlopen, set to `threads` threads).
std::vector<matmul_result> compare_matmul(uint32_t threads, size_t n, size_t k,
                                          const std::vector<size_t>& ms, uint32_t repeats,
                                          const progress_fn& progress);

/// Prefill of one sequence of `tokens` tokens from position 0.
struct prefill_result {
  uint32_t tokens = 0;
  double seconds = 0;  ///< Median per forward call.
};

/// Decode steps of `batch` sequences, each with `context` cached positions.
struct decode_result {
  uint32_t batch = 0;
  uint32_t context = 0;
  double step_seconds = 0;  ///< Median per step.
  double bytes_per_step = 0;  ///< Weights + KV read by one step.
};

/// Times single-sequence prefills of each length in `lengths`.
std::vector<prefill_result> measure_prefill(reference::model_runner& runner,
                                            const std::vector<uint32_t>& lengths,
                                            uint32_t repeats, const progress_fn& progress);

/// Times decode steps for each batch size: the KV of `context` positions per sequence is
/// filled with random values (the cost does not depend on them), then `steps` steps run.
std::vector<decode_result> measure_decode(reference::model_runner& runner,
                                          const std::vector<uint32_t>& batches,
                                          uint32_t context, uint32_t steps,
                                          const progress_fn& progress);

/// Bytes of fp32 weights one decode step reads (all layers and the lm_head).
double weight_bytes(const model::model_config& cfg);

} // namespace dynamo::cpu_bench
