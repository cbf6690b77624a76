#include "hub/hub_client.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <random>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "hub/cache_layout.h"
#include "hub/disk_space.h"
#include "hub/downloader.h"
#include "hub/http_client.h"
#include "hub/hub_errors.h"
#include "hub/interrupt.h"
#include "hub/path_safety.h"
#include "hub/progress.h"
#include "hub/snapshot_status.h"

namespace pensieve::hub {
namespace fs = std::filesystem;

namespace {

std::string file_url(const HubConfig& c, const std::string& repo_id, const std::string& commit,
                     const std::string& path) {
  return c.endpoint + "/" + repo_id + "/resolve/" + commit + "/" + url_encode(path, true);
}

// snapshots/<commit>/<path> -> ../../blobs/<etag> (one more ../ per folder level of <path>),
// replacing whatever was there atomically.
void link_into_snapshot(const RepoCache& cache, const std::string& commit, const RepoFile& file) {
  fs::path snapshot = cache.snapshot_dir(commit);
  fs::create_directories(snapshot);
  fs::path link = safe_join(snapshot, file.path);
  fs::create_directories(link.parent_path());
  link = safe_join(snapshot, file.path);  // again, now that the folders exist
  fs::path target = relative_link_target(link, cache.blob_path(file.etag()));
  std::error_code ec;
  if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == target) return;
  fs::path tmp = link;
  tmp += ".";
  tmp += std::to_string(::getpid());
  tmp += ".tmplink";
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp);
  fs::rename(tmp, link);
}

}  // namespace

HubClient::HubClient(HubConfig config) : config_(std::move(config)) {}

std::optional<fs::path> HubClient::cached_snapshot(const RepoRef& ref) const {
  RepoCache cache(config_.cache_dir, ref.repo_id);
  auto commit = cache.cached_commit(ref.revision);
  if (!commit) return std::nullopt;
  SnapshotStatus s = inspect_snapshot(cache, *commit);
  if (s.completeness == Completeness::complete) return s.dir;
  return std::nullopt;
}

RepoListing HubClient::fetch_listing(const RepoRef& ref, bool single_attempt) {
  HttpSession session(config_);
  const std::string what = "repository " + ref.repo_id + " at revision " + ref.revision;
  std::string url = config_.endpoint + "/api/models/" + ref.repo_id + "/revision/" +
                    url_encode(ref.revision, false) + "?blobs=true";
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int attempt = 0;; ++attempt) {
    HttpRequest req;
    req.url = url;
    HttpResult r = session.perform(req, nullptr, [] { return interrupted(); });
    if (interrupted()) throw Interrupted("interrupted");
    if (r.transfer_ok() && r.status == 200) {
      nlohmann::json info;
      try {
        info = nlohmann::json::parse(r.body);
      } catch (const std::exception&) {
        throw Error("the Hub's answer for " + what + " is not JSON");
      }
      return parse_revision_info(info, ref.repo_id);
    }
    bool last = single_attempt || attempt + 1 >= config_.backoff.max_attempts;
    if (!is_transient(r) || last) {
      std::string msg = describe_failure(r, what, config_.token.has_value());
      if (is_unreachable(r) || (is_transient(r) && r.status >= 500)) throw HubUnreachable(msg);
      throw Error(msg);
    }
    double delay = backoff_delay_s(config_.backoff, attempt, unit(rng));
    if (auto ra = parse_retry_after(r.header("retry-after"), std::time(nullptr)))
      delay = std::min(*ra, 600.0);
    log::warn(describe_failure(r, what, config_.token.has_value()) + "; retrying in " +
              std::to_string(static_cast<int>(delay * 10) / 10.0).substr(0, 4) + "s");
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(delay);
    while (std::chrono::steady_clock::now() < until && !interrupted())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

fs::path HubClient::pull(const RepoRef& ref, const PullOptions& options) {
  validate_repo_id(ref.repo_id);
  validate_revision(ref.revision);
  const std::string model = ref.repo_id + "@" + ref.revision;
  auto cached = cached_snapshot(ref);
  if (config_.offline) {
    if (cached) return *cached;
    throw Error("HF_HUB_OFFLINE is set and " + model + " is not complete in the cache at " +
                config_.cache_dir.string() +
                "; unset HF_HUB_OFFLINE to download it, or pass a local model directory with -m "
                "/path/to/model");
  }
  // A commit never changes: complete in the cache means nothing to ask the Hub.
  if (cached && is_commit_hash(ref.revision)) return *cached;

  InterruptGuard guard;
  RepoListing listing;
  try {
    listing = fetch_listing(ref, cached.has_value());
  } catch (const HubUnreachable& e) {
    if (cached) {
      log::warn(std::string(e.what()) + "; using the cached snapshot " + cached->string());
      return *cached;
    }
    throw Error(unreachable_message(config_.endpoint, model, e.what()));
  }
  return download_snapshot(ref, std::move(listing), options);
}

fs::path HubClient::download_snapshot(const RepoRef& ref, RepoListing listing,
                                      const PullOptions& options) {
  RepoCache cache(config_.cache_dir, ref.repo_id);
  // Every name and hash was validated by parse_revision_info before anything is written.
  HttpSession head_session(config_);
  for (auto& f : listing.files) {
    if (!f.etag().empty()) continue;
    // The listing lacks the blob id: ask for the file's ETag as huggingface_hub does.
    HttpRequest req;
    req.method = "HEAD";
    req.url = file_url(config_, ref.repo_id, listing.commit, f.path);
    req.follow_redirects = false;
    HttpResult r = head_session.perform(req);
    std::string etag = r.header("x-linked-etag");
    if (etag.empty()) etag = r.header("etag");
    if (!r.transfer_ok() || r.status >= 400 || etag.empty())
      throw Error(describe_failure(r, "file " + f.path + " of " + ref.repo_id,
                                   config_.token.has_value()));
    f.blob_id = normalize_etag(etag);
    validate_etag(f.blob_id);
  }

  fs::create_directories(cache.repo_dir());
  std::uint64_t missing = 0;
  std::error_code ec;
  for (const auto& f : listing.files) {
    if (fs::is_regular_file(cache.blob_path(f.etag()), ec)) continue;
    std::uint64_t partial = 0;
    if (fs::is_regular_file(cache.incomplete_path(f.etag()), ec))
      partial = std::min<std::uint64_t>(fs::file_size(cache.incomplete_path(f.etag()), ec), f.size);
    missing += f.size - partial;
  }
  check_disk_space(cache.repo_dir(), missing);

  cache.write_ref(ref.revision, listing.commit);
  write_tree_listing(cache.tree_listing_path(listing.commit), listing.files);
  fs::create_directories(cache.snapshot_dir(listing.commit));

  // Largest first, so the long transfers overlap and small files fill the gaps.
  std::vector<const RepoFile*> order;
  for (const auto& f : listing.files) order.push_back(&f);
  std::stable_sort(order.begin(), order.end(),
                   [](const RepoFile* a, const RepoFile* b) { return a->size > b->size; });

  // Nothing to fetch (only links to make): no progress display.
  ProgressDisplay display(ProgressDisplay::choose_mode(options.quiet || missing == 0),
                          config_.progress_interval_s,
                          "pull " + ref.repo_id);
  std::vector<FileProgress*> progress;
  for (const RepoFile* f : order) {
    std::uint64_t already = 0;
    if (fs::is_regular_file(cache.blob_path(f->etag()), ec))
      already = f->size;
    else if (fs::is_regular_file(cache.incomplete_path(f->etag()), ec))
      already = std::min<std::uint64_t>(fs::file_size(cache.incomplete_path(f->etag()), ec), f->size);
    progress.push_back(&display.add_file(f->path, f->size, already));
  }
  if (missing > 0 && !options.quiet)
    log::info("pull " + ref.repo_id + ": " + std::to_string(listing.files.size()) + " files, " +
              format_bytes(missing) + " to download into " + cache.repo_dir().string());
  display.start();

  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto should_stop = [&] { return interrupted() || failed.load(); };
  auto worker = [&] {
    try {
      HttpSession session(config_);
      DownloadContext ctx{config_, session, cache, should_stop};
      for (std::size_t i; (i = next.fetch_add(1)) < order.size();) {
        if (should_stop()) break;
        const RepoFile& f = *order[i];
        try {
          fetch_blob(ctx, f, file_url(config_, ref.repo_id, listing.commit, f.path), *progress[i]);
        } catch (...) {
          progress[i]->state = FileProgress::failed;
          throw;
        }
        // Only now, with the blob verified and in place, does the snapshot point at it.
        link_into_snapshot(cache, listing.commit, f);
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      // The first real failure wins over the "interrupted" errors it causes in other workers.
      if (!first_error) first_error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> threads;
  int n = std::min<int>(config_.parallel_files, static_cast<int>(order.size()));
  for (int i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  display.finish(!first_error && !interrupted());
  if (interrupted())
    throw Interrupted("interrupted; partial downloads are kept in " + cache.blobs_dir().string() +
                      " and the next pull of " + ref.repo_id + " resumes them");
  if (first_error) std::rethrow_exception(first_error);

  SnapshotStatus status = inspect_snapshot(cache, listing.commit);
  if (status.completeness != Completeness::complete)
    throw Error("the snapshot of " + ref.repo_id + " is incomplete after the download (" +
                status.problem + ")");
  return status.dir;
}

}  // namespace pensieve::hub
