#pragma once
// A thin libcurl session: one easy handle reused for many requests (keep-alive), the Hub's
// headers (user agent, bearer token), connect and stall timeouts, redirects, cancellation.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "hub/hub_config.h"

namespace pensieve::hub {

struct HttpResult {
  long status = 0;        // of the last response; 0 when none arrived
  int curl_code = 0;      // CURLE_OK (0) when the transfer ended normally
  std::string curl_error;
  std::map<std::string, std::string> headers;  // of the last response, names in lower case
  std::string body;       // small bodies: JSON answers and error pages (not streamed downloads)
  std::string url;        // the URL that answered (after redirects)

  bool transfer_ok() const { return curl_code == 0; }
  std::string header(const std::string& lower_name) const;
};

struct HttpRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  std::vector<std::string> headers;  // extra "Name: value" lines
  bool follow_redirects = true;
};

// Receives body bytes of a 2xx response, with the response's status and headers so far;
// returns false to abort the transfer.
using BodySink = std::function<bool(const HttpResult& response, const char* data, std::size_t n)>;

class HttpSession {
 public:
  explicit HttpSession(const HubConfig& config);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Without a sink, the body is collected into HttpResult::body. `should_abort` is polled during
  // the transfer; returning true ends it with a curl error.
  HttpResult perform(const HttpRequest& request, const BodySink* sink = nullptr,
                     const std::function<bool()>& should_abort = {});

 private:
  const HubConfig& config_;
  void* curl_;
};

// Percent-encodes one URL path part; '/' kept when `keep_slash` (file paths inside a repo).
std::string url_encode(const std::string& s, bool keep_slash);

// Connection-level failures: the Hub could not be reached at all.
bool is_unreachable(const HttpResult& result);
// Worth retrying: resets, timeouts, partial transfers, 408/429/5xx.
bool is_transient(const HttpResult& result);

}  // namespace pensieve::hub
