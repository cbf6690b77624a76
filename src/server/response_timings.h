#pragma once
// What a response reports of where its time went: the engine's stages of each choice (steady
// clock) turned into durations from the receipt of the HTTP request, so that a client can put
// them beside its own clock. OpenAI responses carry them as a `timings` object, Anthropic ones as
// a Server-Timing header (a body field could trip the official SDKs).
#include <chrono>
#include <string>
#include <vector>

#include "api/openai.h"
#include "server/choice_stream.h"

namespace pensieve::server {

// The choices of one response (n > 1 counts as one piece of work: token counts summed, each
// stage from the earliest choice to reach it, decoding until the last one ends). Call once
// every choice is done.
api::openai::Timings response_timings(std::chrono::steady_clock::time_point received,
                                      const std::vector<const ChoiceStream*>& choices);

// W3C Server-Timing: "prepare;dur=0.412, queue;dur=0.530, prompt;dur=12.100, ...", milliseconds.
std::string server_timing_header(const api::openai::Timings& timings);

}  // namespace pensieve::server
