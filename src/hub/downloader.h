#pragma once
// Brings one file of a repository into blobs/: resumes a partial download with Range, restarts
// cleanly when the server ignores Range, retries transient failures with backoff, and verifies
// the content (SHA-256 for LFS files, git blob id for the others) before the rename into blobs/.
#include <functional>
#include <string>

#include "common/error.h"
#include "hub/cache_layout.h"
#include "hub/http_client.h"
#include "hub/progress.h"
#include "hub/repo_files.h"

namespace pensieve::hub {

// Thrown when a download stops on Ctrl-C / SIGTERM (or because another file failed); the
// partial file stays for the next run.
class Interrupted : public Error {
 public:
  using Error::Error;
};

struct DownloadContext {
  const HubConfig& config;
  HttpSession& session;
  const RepoCache& cache;
  std::function<bool()> should_stop;
};

// Returns once blobs/<etag> holds the verified file; throws pensieve::Error (or Interrupted).
void fetch_blob(DownloadContext& ctx, const RepoFile& file, const std::string& url,
                FileProgress& progress);

}  // namespace pensieve::hub
