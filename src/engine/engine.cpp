#include "engine/engine.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>

#include "common/env_switch.h"
#include "common/error.h"
#include "common/log.h"
#include "engine/generator.h"
#include "engine/sequence.h"
#include "sampling/logprobs.h"

namespace pensieve::engine {
namespace mx = mlx::core;
using Clock = std::chrono::steady_clock;

struct Engine::Job {
  std::shared_ptr<RequestHandle> handle;
  GenerationRequest request;
  std::unique_ptr<Sequence> seq;
  Clock::time_point submitted = Clock::now();
  Clock::time_point admitted;
  std::optional<Clock::time_point> first_token, last_token;
  std::size_t kv_estimate = 0;
  std::optional<std::string> failure;  // set by fail(): ends with an error event
};

namespace {

// MemAvailable of /proc/meminfo (Linux); 0 where unknown.
std::size_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::size_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

std::size_t round_up(std::size_t n, std::size_t step) { return (n + step - 1) / step * step; }

Event error_event(const std::string& message) {
  Event e;
  e.kind = Event::Kind::error;
  e.error = message;
  return e;
}

bool batched_kv_by_default() { return env_switch("PENSIEVE_BATCHED_KV", mx::default_device() == mx::Device::gpu); }

}  // namespace

Engine::Engine(const model::Phi3Model& model, const tokenizer::Tokenizer& tokenizer, EngineOptions options)
    : model_(model),
      tokenizer_(tokenizer),
      options_(options),
      eos_ids_(eos_ids_of(model, tokenizer)),
      prefix_cache_(0),
      batch_kv_(model.config().num_hidden_layers) {
  const auto& c = model.config();
  // Rejects bits other than 0, 4 and 8 or a group not dividing head_dim here, not per request.
  model::KVCache::validate(options_.kv_bits, options_.kv_group_size, c.head_dim);
  kv_bytes_per_token_ = model.kv_bytes_per_token(options_.kv_bits, options_.kv_group_size);
  if (options_.kv_budget_bytes == 0) {
    std::size_t avail = available_memory_bytes();
    options_.kv_budget_bytes = avail > 0 ? avail / 2 : (std::size_t{4} << 30);
  }
  if (options_.prefix_cache_bytes == 0) options_.prefix_cache_bytes = options_.kv_budget_bytes / 4;
  prefix_cache_.set_budget(options_.prefix_cache_bytes);
  const std::size_t by_budget = options_.kv_budget_bytes / kv_bytes_per_token_;
  std::size_t ctx = static_cast<std::size_t>(c.max_position_embeddings);
  if (options_.context_size > 0) ctx = std::min(ctx, static_cast<std::size_t>(options_.context_size));
  context_size_ = static_cast<int>(std::min(ctx, by_budget));
  if (context_size_ < 16) throw Error("the KV memory budget leaves no room for a context");
  options_.max_batch = std::max(1, options_.max_batch);
  batched_kv_ = options_.kv_bits == 0 && options_.batched_kv.value_or(batched_kv_by_default());
  pipelined_decode_ = batched_kv_ && options_.pipelined_decode.value_or(env_switch("PENSIEVE_PIPELINED_DECODE", true));
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(); }

std::size_t Engine::job_kv_estimate(const Job& job) const {
  const std::size_t positions = job.request.prompt.size() + static_cast<std::size_t>(job.request.max_tokens);
  return round_up(positions, 256) * kv_bytes_per_token_;
}

std::shared_ptr<RequestHandle> Engine::submit(GenerationRequest request) {
  const int vocab = model_.config().vocab_size;
  if (request.prompt.empty()) throw Error("the prompt is empty");
  for (int32_t id : request.prompt)
    if (id < 0 || id >= vocab) throw Error("token id " + std::to_string(id) + " is outside the vocabulary");
  const int prompt_len = static_cast<int>(request.prompt.size());
  if (prompt_len >= context_size_)
    throw Error("the prompt has " + std::to_string(prompt_len) + " tokens; the context holds " +
                std::to_string(context_size_));
  request.sampling.validate(static_cast<std::size_t>(vocab));
  request.max_tokens = std::clamp(request.max_tokens, 0, context_size_ - prompt_len);
  if (request.prefill_chunk <= 0) request.prefill_chunk = options_.prefill_chunk;

  auto job = std::make_unique<Job>();
  job->handle = std::make_shared<RequestHandle>();
  job->request = std::move(request);
  job->kv_estimate = job_kv_estimate(*job);
  auto handle = job->handle;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw Overloaded("the server is shutting down");
    // Requests a free slot is about to take are not waiting for one: the engine thread admits
    // them at its next turn, and until then they are still in waiting_ (a burst of requests would
    // otherwise find the queue full while slots stood empty).
    const int free_slots = std::max(0, options_.max_batch - active_count_.load());
    if (static_cast<int>(waiting_.size()) - free_slots >= options_.max_queue)
      throw Overloaded("the request queue is full (" + std::to_string(options_.max_queue) + " waiting)");
    waiting_.push_back(std::move(job));
  }
  wake_.notify_one();
  return handle;
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    std::lock_guard lock(mutex_);
    s.queued = static_cast<int>(waiting_.size());
  }
  s.active = active_count_.load();
  s.kv_bytes = kv_in_use_.load();
  s.kv_budget_bytes = options_.kv_budget_bytes;
  s.prefix_cache_bytes = prefix_bytes_.load();
  s.prefix_cache_entries = prefix_entries_.load();
  s.prefix_cache_hits = prefix_hits_.load();
  s.prefix_cached_tokens = prefix_tokens_.load();
  s.prompt_tokens = prompt_tokens_.load();
  s.generated_tokens = generated_tokens_.load();
  s.requests_finished = finished_.load();
  s.batched_decode_steps = batched_steps_.load();
  s.batch_kv_bytes = batch_kv_bytes_.load();
  s.queued_decode_steps = queued_steps_.load();
  s.device_decode_steps = device_steps_.load();
  return s;
}

void Engine::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Engine::loop() {
  // Here rather than at the first request: NVRTC compiles the decoder's kernels now.
  device_decoder_ = model::CudaDecoder::create(model_);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !active_.empty(); });
      if (stopping_) {
        for (auto& job : waiting_) job->handle->events.push(error_event("the server is shutting down"));
        waiting_.clear();
        break;
      }
    }
    try {
      admit();
      step();
    } catch (const std::exception& e) {
      log::error(std::string("engine step failed: ") + e.what());
      fail_all(e.what());
      mx::clear_cache();
    }
  }
  fail_all("the server is shutting down");
}

void Engine::admit() {
  std::lock_guard lock(mutex_);
  const std::size_t budget = options_.kv_budget_bytes;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    Job& job = **it;
    if (job.handle->cancelled()) {
      it = waiting_.erase(it);
      continue;
    }
    if (static_cast<int>(active_.size()) >= options_.max_batch) break;
    // An estimate larger than the whole budget still runs alone rather than never.
    if (!active_.empty() && kv_in_use_.load() + job.kv_estimate > budget) break;
    int cached = 0;
    auto cache = model_.make_cache(options_.kv_bits, options_.kv_group_size);
    if (auto hit = prefix_cache_.lookup(job.request.prompt)) {
      cache = std::move(hit->cache);
      cached = hit->tokens;
      prefix_hits_++;
      prefix_tokens_ += static_cast<std::uint64_t>(cached);
    }
    // The prompt and the first stretch of generation allocated at once; growth past it never
    // exceeds what was admitted against the budget (max_tokens is clamped at submit).
    const int prompt_len = static_cast<int>(job.request.prompt.size());
    cache.reserve_hint(prompt_len + std::min(job.request.max_tokens, model::KVCache::kGenerationReserve));
    cache.limit_capacity(prompt_len + job.request.max_tokens);
    job.seq = std::make_unique<Sequence>(job.request, tokenizer_, eos_ids_, std::move(cache), cached);
    job.admitted = Clock::now();
    prompt_tokens_ += job.request.prompt.size();
    kv_in_use_ += job.kv_estimate;
    active_.push_back(std::move(*it));
    it = waiting_.erase(it);
  }
  active_count_ = static_cast<int>(active_.size());
}

void Engine::step() {
  for (auto& job : active_)
    if (job->handle->cancelled()) job->seq->cancel();
  prefill_one();
  decode_all();
  retire_finished();
}

void Engine::prefill_one() {
  auto it = std::find_if(active_.begin(), active_.end(),
                         [](const auto& j) { return !j->seq->finished() && j->seq->prefilling(); });
  if (it == active_.end()) return;
  Job& job = **it;
  auto chunk = job.seq->take_prefill_chunk(job.request.prefill_chunk);
  mx::array ids(chunk.data(), {1, static_cast<int>(chunk.size())}, mx::int32);
  auto logits = model_.forward(ids, job.seq->cache(), /*last_only=*/true);
  if (job.seq->prefilling()) {
    mx::eval(job.seq->cache().state());  // keep the graph one chunk deep
    return;
  }
  choose_and_accept(logits, {&job});
}

void Engine::decode_all() {
  if (pending_) {  // the step queued last time (see queue_next_step): read it
    auto p = std::move(*pending_);
    pending_.reset();
    std::vector<Job*> jobs;
    std::vector<int32_t> rows;
    for (std::size_t i = 0; i < p.jobs.size(); ++i)
      if (!p.jobs[i]->seq->finished()) {  // cancelled since: its row's output is dropped
        jobs.push_back(p.jobs[i]);
        rows.push_back(p.rows[i]);
      }
    if (!jobs.empty()) accept_batched(p.logits, jobs, rows, /*may_queue_next=*/true);
    return;
  }
  auto decoding = [](const Job& job) { return !job.seq->finished() && !job.seq->prefilling() && job.first_token; };
  // A sequence decoding alone runs on the CUDA decoder, and so does the batch of several; when
  // the set of decoding sequences changes, the decoder hands them back (reading a step queued
  // ahead) before the batch's rows change.
  Job* lone = nullptr;
  int count = 0;
  auto count_decoding = [&] {
    lone = nullptr;
    count = 0;
    for (auto& job : active_)
      if (decoding(*job)) {
        lone = job.get();
        ++count;
      }
  };
  count_decoding();
  // (One bound sequence, still decoding, with one decoding in all: it is the lone one.)
  const bool device_changed =
      !device_jobs_.empty() && (count != static_cast<int>(device_jobs_.size()) ||
                                std::any_of(device_jobs_.begin(), device_jobs_.end(), [&](Job* j) { return !decoding(*j); }));
  if (device_changed) {
    end_device_decoding();
    count_decoding();  // a token read just now may have ended one
  }
  if (count == 1 && device_decoder_) {
    // The last of a batch: its positions go back to its own cache (float16 as the decoder's model).
    if (batch_kv_.contains(lone)) {
      batch_kv_.remove(lone, &lone->seq->cache(), static_cast<int>(lone->seq->history().size()) - 1);
      batch_kv_bytes_ = batch_kv_.nbytes();
    }
    if (model::CudaDecoder::accepts(lone->seq->cache())) {
      decode_on_device({lone}, /*solo=*/true);
      return;
    }
  }
  std::vector<Job*> batched, own_cache;
  for (auto& job : active_) {
    if (!decoding(*job)) continue;
    const bool in_batch = batched_kv_ && batch_kv_.contains(job.get());
    if (in_batch || (batched_kv_ && joins_batch(*job))) {
      if (!in_batch) batch_kv_.add(job.get(), job->seq->cache());
      batched.push_back(job.get());
    } else {
      own_cache.push_back(job.get());
    }
  }
  if (!batched.empty()) {
    if (own_cache.empty() && device_decoder_ && device_decoder_->accepts(batch_kv_))
      decode_on_device(batched, /*solo=*/false);
    else
      decode_batched(batched, own_cache.empty());
  }
  if (!own_cache.empty()) decode_each_cache(own_cache);
}

bool Engine::joins_batch(Job& job) const {
  // The batch's buffers hold rows (a power of two) × columns (the longest sequence): a long
  // context among short ones is paid for once a row. The sequence joins while that stays within
  // half the KV budget; past it, it decodes from its own cache.
  const int live = batch_kv_.live_rows();
  const int rows = std::max(batch_kv_.rows(), static_cast<int>(std::bit_ceil(static_cast<unsigned>(live + 1))));
  int columns = job.seq->cache().offset() + 1;
  for (const auto& other : active_)
    if (batch_kv_.contains(other.get())) columns = std::max(columns, batch_kv_.length(other.get()) + 1);
  const std::size_t bytes = static_cast<std::size_t>(rows) * static_cast<std::size_t>(columns) * kv_bytes_per_token_;
  return bytes <= options_.kv_budget_bytes / 2;
}

void Engine::decode_batched(const std::vector<Job*>& jobs, bool all_batched) {
  std::vector<int32_t> last(static_cast<std::size_t>(batch_kv_.rows()), 0);  // free rows: a placeholder
  std::vector<int32_t> rows;
  for (Job* job : jobs) {
    rows.push_back(batch_kv_.row_of(job));
    last[static_cast<std::size_t>(rows.back())] = job->seq->last_token();
  }
  mx::array tokens(last.data(), {batch_kv_.rows(), 1}, mx::int32);
  auto logits = model_.forward(tokens, batch_kv_);
  accept_batched(logits, jobs, rows, all_batched);
}

void Engine::accept_batched(const mx::array& logits, const std::vector<Job*>& jobs, const std::vector<int32_t>& rows,
                            bool may_queue_next) {
  auto mine = logits;
  if (static_cast<int>(rows.size()) != logits.shape(0) || !std::is_sorted(rows.begin(), rows.end()))
    mine = mx::take(logits, mx::array(rows.data(), {static_cast<int>(rows.size())}, mx::int32), 0);
  choose_and_accept(mine, jobs, [&](const mx::array& ids) {
    if (may_queue_next) queue_next_step(ids, jobs);
  });
  batched_steps_++;
  batch_kv_bytes_ = batch_kv_.nbytes();
}

// The host reads a step's ids, turns them into text and events, and builds the next graph while
// the device waits: at one sequence that is a quarter of the step. When the next step is certain
// to be the same rows fed these ids (greedy on the device, every sequence past its prompt, none
// waiting to join), it is queued before the ids are read. A row whose sequence ends with these ids
// computes one position for nothing: its output is dropped and that position is never written
// back (see retire_finished).
void Engine::queue_next_step(const mx::array& ids, const std::vector<Job*>& jobs) {
  if (!pipelined_decode_) return;
  if (device_decoder_ && jobs.size() == 1) return;  // the next step goes to the decoder
  // Every running sequence is one of these rows.
  if (jobs.size() != active_.size() || static_cast<int>(jobs.size()) != batch_kv_.live_rows()) return;
  for (const auto& job : active_)
    if (job->seq->finished() || job->seq->prefilling() || !job->first_token) return;
  {
    std::lock_guard lock(mutex_);
    if (!waiting_.empty()) return;
  }
  // Row r's token is ids[i] for the job now in row r (rows move when the batch is compacted: the
  // ids may come from a step read after a compaction); free rows take any (the first).
  std::vector<int32_t> from(static_cast<std::size_t>(batch_kv_.rows()), 0), next_rows;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    next_rows.push_back(batch_kv_.row_of(jobs[i]));
    from[static_cast<std::size_t>(next_rows.back())] = static_cast<int32_t>(i);
  }
  auto tokens = mx::reshape(mx::take(ids, mx::array(from.data(), {batch_kv_.rows()}, mx::int32), 0),
                            {batch_kv_.rows(), 1});
  auto logits = model_.forward(tokens, batch_kv_);
  mx::async_eval(logits);
  pending_ = PendingStep{logits, jobs, next_rows};
  queued_steps_++;
}

void Engine::decode_each_cache(const std::vector<Job*>& jobs) {
  std::vector<model::KVCache*> caches;
  std::vector<int32_t> last;
  for (Job* job : jobs) {
    caches.push_back(&job->seq->cache());
    last.push_back(job->seq->last_token());
  }
  mx::array tokens(last.data(), {static_cast<int>(last.size()), 1}, mx::int32);
  auto logits = model_.forward(tokens, std::span<model::KVCache* const>(caches), /*last_only=*/true);
  choose_and_accept(logits, jobs);
}

bool Engine::greedy_on_device(const Job& job) {
  return job.request.sampling.is_plain_greedy() && job.request.top_logprobs < 0 && !job.seq->constrained();
}

void Engine::choose_and_accept(const mx::array& logits, const std::vector<Job*>& jobs,
                               const std::function<void(const mx::array&)>& before_reading) {
  const int B = static_cast<int>(jobs.size());
  const int V = logits.shape(-1);
  auto rows = mx::reshape(logits, {B, V});
  std::vector<TokenInfo> chosen(static_cast<std::size_t>(B));
  if (std::all_of(jobs.begin(), jobs.end(), [](const Job* j) { return greedy_on_device(*j); })) {
    auto ids = mx::astype(mx::argmax(rows, -1), mx::int32);
    if (before_reading) before_reading(ids);
    mx::eval(ids);
    for (int b = 0; b < B; ++b) chosen[b].id = ids.data<int32_t>()[b];
  } else {
    auto host = mx::astype(rows, mx::float32);
    mx::eval(host);
    chosen = choose_on_host(host.data<float>(), V, jobs);
  }
  hand_over(jobs, chosen);
}

std::vector<TokenInfo> Engine::choose_on_host(const float* rows, int V, const std::vector<Job*>& jobs) {
  std::vector<TokenInfo> chosen(jobs.size());
  std::vector<float> row(static_cast<std::size_t>(V));
  for (std::size_t b = 0; b < jobs.size(); ++b) {
    Job& job = *jobs[b];
    const float* p = rows + b * static_cast<std::size_t>(V);
    row.assign(p, p + V);
    try {
      if (job.request.top_logprobs > 0) chosen[b].top = sampling::top_logprobs(row, job.request.top_logprobs);
      job.seq->constrain(row);
      chosen[b].id = job.seq->sampler().sample(row, job.seq->history());
      if (job.request.top_logprobs >= 0)
        chosen[b].logprob = sampling::token_logprob(std::span<const float>(p, static_cast<std::size_t>(V)), chosen[b].id);
    } catch (const std::exception& e) {
      fail(job, e.what());
    }
  }
  return chosen;
}

void Engine::hand_over(const std::vector<Job*>& jobs, std::vector<TokenInfo>& chosen) {
  const auto now = Clock::now();
  for (std::size_t b = 0; b < jobs.size(); ++b) {
    Job& job = *jobs[b];
    if (job.failure) continue;
    if (!job.first_token) {
      job.first_token = now;
      time_to_first_token.observe(std::chrono::duration<double>(now - job.submitted).count());
    } else {
      inter_token_latency.observe(std::chrono::duration<double>(now - *job.last_token).count());
    }
    job.last_token = now;
    Event e;
    e.produced = now;
    try {
      e.text = job.seq->accept(chosen[b].id);
    } catch (const std::exception& ex) {  // the grammar refused the token: this sequence only
      fail(job, ex.what());
      continue;
    }
    e.tokens.push_back(std::move(chosen[b]));
    job.handle->events.push(std::move(e));
  }
}

bool Engine::may_queue_ahead(const std::vector<Job*>& jobs) const {
  if (!pipelined_decode_) return false;
  // The queued step's tokens are wanted only if the ones read now leave room for them.
  return std::all_of(jobs.begin(), jobs.end(), [](const Job* job) {
    return static_cast<int>(job->seq->generated().size()) + 2 <= job->request.max_tokens;
  });
}

// A lone sequence's own cache or batch_kv_'s rows, bound while the same sequences decode
// (decode_all hands them back first when that changes; buffers written in place). Greedy steps
// chain on the device: the step after the one being read is queued first (pipelined_decode_), so
// the GPU never waits for the host's text and events. A sequence that then ends (EOS, stop string)
// leaves one position computed for nothing but consistent: it holds the last accepted token.
void Engine::decode_on_device(const std::vector<Job*>& jobs, bool solo) {
  auto& decoder = *device_decoder_;
  if (device_jobs_.empty()) {
    if (solo)
      decoder.bind(jobs[0]->seq->cache());
    else
      decoder.bind(batch_kv_);
    device_jobs_ = jobs;
    device_solo_ = solo;
  }
  std::vector<int32_t> rows;  // each job's row of the decoder's output
  for (Job* job : jobs) rows.push_back(solo ? 0 : batch_kv_.row_of(job));
  // chained: the step that consumes the tokens the last one left on the device.
  auto queue_step = [&](bool chained) {
    if (solo) {
      decoder.step(chained ? -1 : jobs[0]->seq->last_token());
      return;
    }
    std::vector<int32_t> tokens;
    if (!chained) {
      tokens.assign(static_cast<std::size_t>(decoder.rows()), 0);  // free rows: a placeholder
      for (std::size_t i = 0; i < jobs.size(); ++i)
        tokens[static_cast<std::size_t>(rows[i])] = jobs[i]->seq->last_token();
    }
    decoder.step_rows(tokens);
  };
  if (decoder.unread() == 0) queue_step(false);
  std::vector<TokenInfo> chosen(jobs.size());
  if (!std::all_of(jobs.begin(), jobs.end(), [](const Job* j) { return greedy_on_device(*j); })) {
    const auto all = decoder.logits();
    const std::size_t V = all.size() / static_cast<std::size_t>(decoder.rows());
    std::vector<float> mine;
    if (!solo) {
      mine.reserve(jobs.size() * V);
      for (int32_t r : rows)
        mine.insert(mine.end(), all.begin() + static_cast<std::ptrdiff_t>(r * V),
                    all.begin() + static_cast<std::ptrdiff_t>((r + 1) * V));
    }
    chosen = choose_on_host(solo ? all.data() : mine.data(), static_cast<int>(V), jobs);
  } else {
    if (may_queue_ahead(jobs)) {
      queue_step(true);
      queued_steps_++;
    }
    const auto ids = decoder.next_tokens();
    for (std::size_t i = 0; i < jobs.size(); ++i) chosen[i].id = ids[static_cast<std::size_t>(rows[i])];
  }
  device_steps_++;
  if (!solo) {
    batched_steps_++;
    batch_kv_bytes_ = batch_kv_.nbytes();
  }
  hand_over(jobs, chosen);
}

void Engine::end_device_decoding() {
  const auto jobs = std::move(device_jobs_);
  const bool solo = device_solo_;
  device_jobs_.clear();
  device_solo_ = false;
  if (device_decoder_->unread() > 0) {
    const auto ids = device_decoder_->next_tokens();
    std::vector<Job*> open;
    std::vector<TokenInfo> chosen;
    for (Job* job : jobs)
      if (!job->seq->finished()) {
        open.push_back(job);
        chosen.emplace_back().id = ids[static_cast<std::size_t>(solo ? 0 : batch_kv_.row_of(job))];
      }
    hand_over(open, chosen);
  }
  device_decoder_->finish();
}

// One sequence went wrong (a grammar with no way forward, a bad sampler state): it ends with an
// error event at the next retirement; the others go on.
void Engine::fail(Job& job, const std::string& message) {
  job.failure = message;
  job.seq->cancel();
}

void Engine::retire_finished() {
  for (auto it = active_.begin(); it != active_.end();) {
    Job& job = **it;
    if (!job.seq->finished()) {
      ++it;
      continue;
    }
    Sequence& seq = *job.seq;
    // Before its cache moves or goes, or the batch's rows change.
    if (!device_jobs_.empty() && (device_solo_ ? device_jobs_[0] == &job : batch_kv_.contains(&job)))
      end_device_decoding();
    if (pending_) pending_->drop(&job);
    if (batch_kv_.contains(&job)) {  // its positions go back to its own cache for the prefix cache
      const bool kept = !job.failure && seq.finish_reason() != FinishReason::cancelled;
      // Every token but the last was fed (a step queued ahead may have fed that one too).
      batch_kv_.remove(&job, kept ? &seq.cache() : nullptr, static_cast<int>(seq.history().size()) - 1);
      batch_kv_bytes_ = batch_kv_.nbytes();
    }
    if (job.failure) {
      it = release(it, error_event(*job.failure));
      continue;
    }
    if (auto tail = seq.flush(); !tail.empty()) {
      Event t;
      t.text = std::move(tail);
      t.produced = Clock::now();
      job.handle->events.push(std::move(t));
    }
    Event done;
    done.kind = Event::Kind::done;
    done.finish = seq.finish_reason();
    done.stop_string = seq.stop_string();
    done.usage = Usage{static_cast<int>(job.request.prompt.size()), seq.cached_prompt_tokens(),
                       static_cast<int>(seq.generated().size())};
    if (job.first_token)
      done.time_to_first_token_s = std::chrono::duration<double>(*job.first_token - job.submitted).count();
    done.timings = Timings{job.submitted, job.admitted, job.first_token, job.last_token};
    generated_tokens_ += seq.generated().size();
    finished_++;
    if (seq.finish_reason() != FinishReason::cancelled) {
      auto& cache = seq.cache();
      std::vector<int32_t> tokens(seq.history().begin(), seq.history().begin() + cache.offset());
      // Room reserved for generation that went unused is not kept, when it is worth a copy of the
      // valid part (a long context's last 1024 positions are not).
      if (cache.capacity() - cache.offset() > cache.capacity() / 4) cache.shrink_to_fit();
      prefix_cache_.insert(std::move(tokens), std::move(cache));
      prefix_bytes_ = prefix_cache_.bytes();
      prefix_entries_ = prefix_cache_.entries();
    }
    it = release(it, std::move(done));
  }
  active_count_ = static_cast<int>(active_.size());
}

// A finished job leaves the counts (slots, KV budget) before its last event goes out: a client
// that reads the server's metrics once its answer is complete sees the slot free.
Engine::JobIterator Engine::release(JobIterator it, Event last) {
  auto handle = (*it)->handle;
  kv_in_use_ -= (*it)->kv_estimate;
  it = active_.erase(it);
  active_count_ = static_cast<int>(active_.size());
  handle->events.push(std::move(last));
  return it;
}

void Engine::fail_all(const std::string& message) {
  if (!device_jobs_.empty()) {  // the failure may be the decoder's own: MLX's path takes over
    device_jobs_.clear();
    device_solo_ = false;
    try {
      device_decoder_->finish();
    } catch (...) {
    }
    device_decoder_.reset();
    log::warn("the CUDA decoder is off after that failure");
  }
  for (auto& job : active_) job->handle->events.push(error_event(message));
  active_.clear();
  pending_.reset();
  batch_kv_ = model::BatchKVCache(model_.config().num_hidden_layers);
  batch_kv_bytes_ = 0;
  kv_in_use_ = 0;
  active_count_ = 0;
}

}  // namespace pensieve::engine
