#pragma once
// One log line per HTTP request: method, route, status, prompt and generated tokens, time to
// first token and duration. httplib serves a request start to end on one worker thread (the
// routing, the handler, a streamed body, then the logger), so what the generation learns on the
// way is kept in a thread-local record between those steps, never in headers a client would see.
#include <chrono>
#include <string>

#include "engine/events.h"

namespace pensieve::server::request_log {

// A request reached routing: start its clock and forget the figures of the one before.
void begin();
// When this thread's request reached routing (its headers were read): the start of the
// durations a response reports. Now, if no request has begun on this thread.
std::chrono::steady_clock::time_point received();
// One generation (choice) of the request ended; called once per choice.
void note_generation(const engine::Usage& usage, double time_to_first_token_s);
// The line for the request just served; resets the record.
std::string finish(const std::string& method, const std::string& path, int status);

}  // namespace pensieve::server::request_log
