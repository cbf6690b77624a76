#include "hub/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "common/error.h"
#include "hub/retry_policy.h"

namespace pensieve::hub {
namespace {

constexpr std::size_t kMaxCollectedBody = 64ull << 20;  // JSON file lists of large repos fit

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct TransferState {
  HttpResult* result;
  const BodySink* sink;
  const std::function<bool()>* should_abort;
  bool sink_aborted = false;
};

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  return s;
}

size_t on_header(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* st = static_cast<TransferState*>(userdata);
  std::string line(buffer, size * nitems);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after a redirect or a 100 Continue): keep only the last one's headers.
    st->result->headers.clear();
    auto sp = line.find(' ');
    if (sp != std::string::npos) st->result->status = std::strtol(line.c_str() + sp + 1, nullptr, 10);
    return size * nitems;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    st->result->headers[name] = trim(line.substr(colon + 1));
  }
  return size * nitems;
}

size_t on_body(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* st = static_cast<TransferState*>(userdata);
  size_t n = size * nmemb;
  long status = st->result->status;
  if (st->sink && status >= 200 && status < 300) {
    if (!(*st->sink)(*st->result, data, n)) {
      st->sink_aborted = true;
      return 0;  // makes curl end with CURLE_WRITE_ERROR
    }
    return n;
  }
  if (st->result->body.size() + n > kMaxCollectedBody) return 0;
  st->result->body.append(data, n);
  return n;
}

int on_progress(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<TransferState*>(userdata);
  return (*st->should_abort && (*st->should_abort)()) ? 1 : 0;
}

}  // namespace

std::string HttpResult::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpSession::HttpSession(const HubConfig& config) : config_(config) {
  global_init_once();
  curl_ = curl_easy_init();
  if (!curl_) throw Error("cannot initialise libcurl");
}

HttpSession::~HttpSession() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResult HttpSession::perform(const HttpRequest& request, const BodySink* sink,
                                const std::function<bool()>& should_abort) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the connection cache: the next request reuses the connection
  HttpResult result;
  TransferState st{&result, sink, &should_abort};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  std::string auth;
  if (config_.token) {
    auth = "Authorization: Bearer " + *config_.token;
    headers = curl_slist_append(headers, auth.c_str());
  }
  // The real size of files matters (resume, verification): no transparent compression.
  headers = curl_slist_append(headers, "Accept-Encoding: identity");

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, config_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, config_.connect_timeout_s);
  // A stalled transfer (under 1 byte/s for the whole window) is ended and retried.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, config_.stall_timeout_s);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (request.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);

  CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(headers);
  result.curl_code = static_cast<int>(code);
  if (code != CURLE_OK) result.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(code);
  char* effective = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective)
    result.url = effective;
  return result;
}

std::string url_encode(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool is_unreachable(const HttpResult& r) {
  switch (static_cast<CURLcode>(r.curl_code)) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return true;
    case CURLE_OPERATION_TIMEDOUT:
      return r.status == 0;  // timed out before any response: connecting
    default:
      return false;
  }
}

bool is_transient(const HttpResult& r) {
  if (r.curl_code != CURLE_OK) {
    switch (static_cast<CURLcode>(r.curl_code)) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_PARTIAL_FILE:
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_WEIRD_SERVER_REPLY:
        return true;
      default:
        return false;
    }
  }
  return is_retryable_status(r.status);
}

}  // namespace pensieve::hub
