#pragma once
// What a running request receives from the engine thread, and the channel it arrives on.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "sampling/logprobs.h"

namespace pensieve::engine {

struct Usage {
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;  // of prompt_tokens, how many came from the prefix cache
  int completion_tokens = 0;
};

// When the engine reached each stage of one request (steady_clock: a server turns them into
// durations against its own receipt time; they are not wall-clock times).
struct Timings {
  using Clock = std::chrono::steady_clock;
  Clock::time_point submitted;                   // Engine::submit
  Clock::time_point admitted;                    // given a slot (its prefill may start)
  std::optional<Clock::time_point> first_token;  // the prompt's last chunk ran and a token was chosen
  std::optional<Clock::time_point> last_token;
};

struct TokenInfo {
  int32_t id;
  float logprob = 0;                              // when logprobs were asked for
  std::vector<sampling::TokenLogprob> top;        // alternatives, most likely first
};

struct Event {
  enum class Kind { text, done, error };
  Kind kind = Kind::text;
  std::string text;               // text: newly final output
  std::vector<TokenInfo> tokens;  // text: the ids behind it (with logprobs if asked)
  FinishReason finish = FinishReason::max_tokens;  // done
  std::optional<std::string> stop_string;          // done, finish == stop_string
  Usage usage;                                     // done
  std::string error;                               // error
  double time_to_first_token_s = 0;                // done
  Timings timings;                                 // done
  // text: when it became final, so a reader can tell how long its delivery took
  std::chrono::steady_clock::time_point produced{};
};

// A single-consumer queue of events for one request. The engine pushes; the request thread
// pops. Cancelling (client gone) is a flag the engine reads between steps.
class EventChannel {
 public:
  void push(Event e) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(std::move(e));
    }
    cv_.notify_one();
  }
  // Waits up to `timeout` for the next event.
  std::optional<Event> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Event> events_;
};

}  // namespace pensieve::engine
