#pragma once
// The serving engine: one thread owns the model and MLX; request threads submit work and read
// events from their own channel. Continuous batching: every step runs one prefill chunk of one
// waiting prompt (so a long prompt never stalls running streams for long) and one batched decode
// step for every sequence past its prompt; sequences join and leave between steps. Admission is
// bounded by a KV-memory budget and a queue length; finished sequences leave their KV cache in
// the prefix cache.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "engine/events.h"
#include "engine/prefix_cache.h"
#include "engine/request.h"
#include "model/batch_kv_cache.h"
#include "model/cuda_decoder.h"
#include "model/phi3.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::engine {

struct EngineOptions {
  int max_batch = 8;                  // sequences decoding together
  int max_queue = 64;                 // requests waiting for a slot; beyond → Overloaded
  std::size_t kv_budget_bytes = 0;    // KV memory for running sequences; 0 → derived from RAM
  std::size_t prefix_cache_bytes = 0; // KV kept for reuse; 0 → a quarter of the KV budget
  int prefill_chunk = 256;
  int context_size = 0;               // 0 → the model's max_position_embeddings, capped by the budget
  int kv_bits = 0;                    // 8 or 4: quantized KV cache (model::KVCache); 0 → float
  int kv_group_size = model::KVCache::kDefaultGroupSize;  // quantization group along head_dim
  // Decode steps keep the running sequences' keys and values in one buffer per layer
  // (model::BatchKVCache: one cache update and one attention call a layer for the whole batch).
  // Unset: on a GPU with an unquantized cache (there every per-sequence call is a kernel launch;
  // the CPU attention kernel reads each sequence's cache where it is), or as the environment
  // variable PENSIEVE_BATCHED_KV (0 or 1) says.
  std::optional<bool> batched_kv;
  // With batched_kv, a greedy decode step is queued before the previous one is read (see
  // Engine::queue_next_step). Unset: on, or as PENSIEVE_PIPELINED_DECODE (0 or 1) says.
  std::optional<bool> pipelined_decode;
};

// Thrown by submit when the queue is full; the server answers 529 / 429 with Retry-After.
class Overloaded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RequestHandle {
 public:
  EventChannel events;
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

struct EngineStats {
  int active = 0;
  int queued = 0;
  std::size_t kv_bytes = 0;
  std::size_t kv_budget_bytes = 0;
  std::size_t prefix_cache_bytes = 0;
  std::size_t prefix_cache_entries = 0;
  std::uint64_t prefix_cache_hits = 0;
  std::uint64_t prefix_cached_tokens = 0;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t generated_tokens = 0;
  std::uint64_t requests_finished = 0;
  std::uint64_t batched_decode_steps = 0;  // decode steps run over the shared batch buffers
  std::size_t batch_kv_bytes = 0;          // those buffers now (0 when no sequence is in them)
  std::uint64_t queued_decode_steps = 0;   // of those, queued before the previous step was read
  std::uint64_t device_decode_steps = 0;   // steps on model::CudaDecoder (a lone sequence or a batch)
};

class Engine {
 public:
  Engine(const model::Phi3Model& model, const tokenizer::Tokenizer& tokenizer, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Throws pensieve::Error for a request that can never run (empty prompt,
  // prompt longer than the context, bad sampling parameters) and Overloaded when the queue is full.
  // max_tokens is clamped to what fits in the context and the KV budget.
  std::shared_ptr<RequestHandle> submit(GenerationRequest request);

  EngineStats stats() const;
  int context_size() const { return context_size_; }
  std::size_t kv_bytes_per_token() const { return kv_bytes_per_token_; }
  // Stops taking work; running and queued requests end with an error event.
  void shutdown();

  metrics::Histogram time_to_first_token{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
  metrics::Histogram inter_token_latency{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}};

 private:
  struct Job;
  void loop();
  void admit();
  void step();
  void prefill_one();
  void decode_all();
  // Decode steps of the sequences in batch_kv_ (rows in that order) and of those with their own cache.
  void decode_batched(const std::vector<Job*>& jobs, bool all_batched);
  void decode_each_cache(const std::vector<Job*>& jobs);
  // A step on device_decoder_ (see decode_all) of a lone decoding sequence (solo: its own cache)
  // or of the sequences in batch_kv_ (all of its live rows).
  void decode_on_device(const std::vector<Job*>& jobs, bool solo);
  // Hands the sequences on device_decoder_ back to MLX's path: the tokens of a step queued ahead
  // are read and accepted first by those that have not ended, and the decoder is drained.
  void end_device_decoding();
  // Whether a greedy step may be queued on the device before the tokens of `jobs` are read: each
  // has room for two more tokens.
  bool may_queue_ahead(const std::vector<Job*>& jobs) const;
  // logits: one row per row of batch_kv_ as it was when the step ran; jobs[i] reads row rows[i].
  // May queue the next step.
  void accept_batched(const mlx::core::array& logits, const std::vector<Job*>& jobs, const std::vector<int32_t>& rows,
                      bool may_queue_next = false);
  void queue_next_step(const mlx::core::array& ids, const std::vector<Job*>& jobs);
  // Whether the job's sequence may move into batch_kv_ (its buffers stay within the KV budget).
  bool joins_batch(Job& job) const;
  void retire_finished();
  using JobIterator = std::vector<std::unique_ptr<Job>>::iterator;
  // Takes a finished job out of active_ and its counts, then sends its last event; returns the
  // next job.
  JobIterator release(JobIterator it, Event last);
  void fail_all(const std::string& message);
  void fail(Job& job, const std::string& message);
  // Chooses the next token of each row of logits [B, 1, V] for jobs[b] and hands it over. Greedy
  // on the device: before_reading gets the ids, still lazy.
  void choose_and_accept(const mlx::core::array& logits, const std::vector<Job*>& jobs,
                         const std::function<void(const mlx::core::array&)>& before_reading = {});
  // Whether a job's next token is the argmax alone (no sampler, log-probabilities or grammar).
  static bool greedy_on_device(const Job& job);
  // The host side of choosing: rows[b * V ...] are jobs[b]'s float32 logits.
  std::vector<TokenInfo> choose_on_host(const float* rows, int V, const std::vector<Job*>& jobs);
  // Each job's chosen token to its sequence and its client (timing metrics, events).
  void hand_over(const std::vector<Job*>& jobs, std::vector<TokenInfo>& chosen);
  std::size_t job_kv_estimate(const Job& job) const;

  const model::Phi3Model& model_;
  const tokenizer::Tokenizer& tokenizer_;
  EngineOptions options_;
  std::vector<int32_t> eos_ids_;
  std::size_t kv_bytes_per_token_;
  int context_size_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> waiting_;  // guarded by mutex_
  bool stopping_ = false;                     // guarded by mutex_
  std::atomic<int> active_count_{0};
  std::atomic<std::size_t> kv_in_use_{0};

  std::vector<std::unique_ptr<Job>> active_;  // engine thread only
  PrefixCache prefix_cache_;                  // engine thread only
  bool batched_kv_ = false;
  bool pipelined_decode_ = false;
  model::BatchKVCache batch_kv_;              // engine thread only
  // A decode step queued before the previous one was read (engine thread only).
  struct PendingStep {
    mlx::core::array logits;
    std::vector<Job*> jobs;
    std::vector<int32_t> rows;
    void drop(const Job* job) {
      for (std::size_t i = 0; i < jobs.size(); ++i)
        if (jobs[i] == job) {
          jobs.erase(jobs.begin() + static_cast<std::ptrdiff_t>(i));
          rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(i));
          return;
        }
    }
  };
  std::optional<PendingStep> pending_;
  // On a CUDA GPU, decode steps run on Pensieve's own kernels (a step of MLX's graph there is
  // bound by the host: bench/gpu/README.md): a sequence decoding alone, or the rows of batch_kv_;
  // made on the engine thread at start, null where it does not apply. device_jobs_ are the
  // sequences bound to it: one with its own cache (device_solo_), or batch_kv_'s (engine thread
  // only).
  std::unique_ptr<model::CudaDecoder> device_decoder_;
  std::vector<Job*> device_jobs_;
  bool device_solo_ = false;
  std::atomic<std::uint64_t> prefix_hits_{0}, prefix_tokens_{0}, prompt_tokens_{0}, generated_tokens_{0},
      finished_{0};
  std::atomic<std::size_t> prefix_bytes_{0}, prefix_entries_{0};
  std::atomic<std::uint64_t> batched_steps_{0}, queued_steps_{0}, device_steps_{0};
  std::atomic<std::size_t> batch_kv_bytes_{0};
  std::thread thread_;
};

}  // namespace pensieve::engine
