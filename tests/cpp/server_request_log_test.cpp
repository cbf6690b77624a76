// The per-request log line: figures noted by the generations of a request, summed over choices,
// reset between requests, and private to the thread serving the request.
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "server/request_log.h"

namespace pensieve::server {
namespace {

TEST(RequestLog, LineWithoutGenerationHasStatusAndDuration) {
  request_log::begin();
  const auto line = request_log::finish("GET", "/v1/models", 200);
  EXPECT_TRUE(std::regex_match(line, std::regex(R"(GET /v1/models 200 duration=\d+\.\d{3}s)"))) << line;
}

TEST(RequestLog, ChoicesAreSummedAndTheEarliestFirstTokenKept) {
  request_log::begin();
  request_log::note_generation({12, 4, 7}, 0.250);
  request_log::note_generation({12, 4, 5}, 0.125);
  const auto line = request_log::finish("POST", "/v1/chat/completions", 200);
  EXPECT_TRUE(std::regex_match(line, std::regex(R"(POST /v1/chat/completions 200 tokens_in=12 tokens_out=12 ttft=0\.125s duration=\d+\.\d{3}s)")))
      << line;
}

TEST(RequestLog, NoTokenGeneratedMeansNoFirstTokenTime) {
  request_log::begin();
  request_log::note_generation({30, 0, 0}, 0);
  const auto line = request_log::finish("POST", "/v1/messages", 200);
  EXPECT_NE(line.find("tokens_in=30 tokens_out=0 ttft=- "), std::string::npos) << line;
}

TEST(RequestLog, FinishForgetsTheRequest) {
  request_log::begin();
  request_log::note_generation({3, 0, 2}, 0.01);
  request_log::finish("POST", "/v1/messages", 200);
  // A request that never reached routing (no begin): no figures from the one before.
  EXPECT_EQ(request_log::finish("GET", "/", 400), "GET / 400");
}

TEST(RequestLog, EachThreadKeepsItsOwnRecord) {
  request_log::begin();
  request_log::note_generation({5, 0, 1}, 0.5);
  std::thread other([] {
    request_log::begin();
    EXPECT_EQ(request_log::finish("GET", "/health", 200).find("tokens_"), std::string::npos);
  });
  other.join();
  EXPECT_NE(request_log::finish("POST", "/v1/messages", 200).find("tokens_in=5 tokens_out=1 ttft=0.500s"), std::string::npos);
}

}  // namespace
}  // namespace pensieve::server
