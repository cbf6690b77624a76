#include "hub/hub_errors.h"

namespace pensieve::hub {

std::string describe_failure(const HttpResult& r, const std::string& what, bool token_set) {
  const std::string code = r.header("x-error-code");
  const std::string server_msg = r.header("x-error-message");
  const std::string suffix = server_msg.empty() ? "" : " (the Hub says: " + server_msg + ")";
  if (!r.transfer_ok() && r.status == 0)
    return "could not reach " + r.url + " for " + what + ": " + r.curl_error;
  if (r.status == 401 || r.status == 403) {
    if (code == "GatedRepo")
      return what + " is gated: accept its conditions on the Hub and set HF_TOKEN to an access "
             "token of that account" + suffix;
    if (code == "RepoNotFound")
      return what + " was not found on the Hub, or it is private: check the name, or set HF_TOKEN "
             "to a token that can read it" + suffix;
    return std::string("access to ") + what + " was refused (HTTP " + std::to_string(r.status) +
           "): it is gated or private; " +
           (token_set ? "the token in HF_TOKEN is not allowed to read it"
                      : "set HF_TOKEN to an access token that can read it") + suffix;
  }
  if (r.status == 404) {
    if (code == "RevisionNotFound") return "revision not found: " + what + suffix;
    if (code == "EntryNotFound") return "file not found: " + what + suffix;
    return what + " was not found on the Hub (HTTP 404): check the repository id and revision" +
           suffix;
  }
  std::string msg = what + " failed";
  if (r.status) msg += " with HTTP " + std::to_string(r.status);
  if (!r.transfer_ok()) msg += ": " + r.curl_error;
  return msg + suffix;
}

std::string unreachable_message(const std::string& endpoint, const std::string& model,
                                const std::string& detail) {
  return "cannot reach the Hugging Face Hub at " + endpoint + " (" + detail + ") and " + model +
         " is not in the local cache. Check the network (or HF_ENDPOINT), or pass a local model "
         "directory with -m /path/to/model";
}

}  // namespace pensieve::hub
