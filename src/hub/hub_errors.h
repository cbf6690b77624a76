#pragma once
// One sentence per way a request to the Hub can fail, meant for the user.
#include <string>

#include "hub/http_client.h"

namespace pensieve::hub {

// `what` names the object ("repository org/name at revision main", "file x of org/name").
// 401/403 (gated or private: set HF_TOKEN), 404 (not found), others with status and curl error.
std::string describe_failure(const HttpResult& result, const std::string& what, bool token_set);

// The error for "the Hub cannot be reached and the model is not cached".
std::string unreachable_message(const std::string& endpoint, const std::string& model,
                                const std::string& detail);

}  // namespace pensieve::hub
