#include "hub/downloader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "common/log.h"
#include "hub/blob_lock.h"
#include "hub/digest.h"
#include "hub/disk_space.h"
#include "hub/hub_errors.h"

namespace pensieve::hub {
namespace fs = std::filesystem;
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// What went wrong within one request, beyond what curl and the status say.
struct Attempt {
  bool started = false;
  bool bad_range = false;   // 206 for other bytes than asked
  bool overflow = false;    // more bytes than the listed size
  int write_errno = 0;
  std::uint64_t received = 0;
};

void sleep_interruptibly(double seconds, const std::function<bool()>& should_stop) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (should_stop()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::uint64_t parse_content_range_start(const std::string& value) {
  // "bytes START-END/TOTAL"
  auto sp = value.find(' ');
  if (sp == std::string::npos) return UINT64_MAX;
  return std::strtoull(value.c_str() + sp + 1, nullptr, 10);
}

void truncate_to_zero(int fd, const fs::path& path) {
  if (::ftruncate(fd, 0) != 0) throw Error("cannot truncate " + path.string() + ": " + std::strerror(errno));
}

// Fills `incomplete` up to the file's size; returns the hash of its whole content.
std::string transfer(DownloadContext& ctx, const RepoFile& file, const std::string& url,
                     const fs::path& incomplete, FileProgress& progress, Digest& digest) {
  Fd fd(::open(incomplete.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0)
    throw Error("cannot create " + incomplete.string() + ": " + std::strerror(errno));
  struct stat st {};
  ::fstat(fd.get(), &st);
  std::uint64_t have = static_cast<std::uint64_t>(st.st_size);
  if (have > file.size) {
    truncate_to_zero(fd.get(), incomplete);
    have = 0;
  }
  digest.reset();
  if (have > 0) {
    digest.update_from_file(incomplete, have);
    log::info(file.path + ": resuming at " + format_bytes(have) + " of " + format_bytes(file.size));
  }
  progress.bytes = have;

  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int failures = 0;  // attempts in a row that brought no byte
  const std::string what = file.path + " of " + ctx.cache.repo_id();
  while (true) {
    if (have == file.size) {
      if (::fsync(fd.get()) != 0)
        throw Error("cannot write " + incomplete.string() + ": " + std::strerror(errno));
      return digest.hex();
    }
    if (ctx.should_stop()) throw Interrupted("interrupted while downloading " + what);

    Attempt a;
    HttpRequest req;
    req.url = url;
    if (have > 0) req.headers.push_back("Range: bytes=" + std::to_string(have) + "-");
    BodySink sink = [&](const HttpResult& r, const char* data, std::size_t n) {
      if (!a.started) {
        a.started = true;
        if (r.status == 206 && parse_content_range_start(r.header("content-range")) != have) {
          a.bad_range = true;
          return false;
        }
        if (r.status != 206 && have > 0) {
          // The server ignored Range and sends the whole file: start over rather than append a
          // full body to a partial one.
          log::warn(what + ": the server ignored the Range request; restarting the file");
          truncate_to_zero(fd.get(), incomplete);
          have = 0;
          digest.reset();
          progress.bytes = 0;
        }
      }
      if (have + n > file.size) {
        a.overflow = true;
        return false;
      }
      std::size_t off = 0;
      while (off < n) {
        ssize_t w = ::pwrite(fd.get(), data + off, n - off, static_cast<off_t>(have + off));
        if (w < 0) {
          if (errno == EINTR) continue;
          a.write_errno = errno;
          return false;
        }
        off += static_cast<std::size_t>(w);
      }
      digest.update(data, n);
      have += n;
      a.received += n;
      progress.bytes = have;
      return true;
    };
    HttpResult r = ctx.session.perform(req, &sink, ctx.should_stop);

    if (a.write_errno)
      throw Error("cannot write " + incomplete.string() + ": " + std::strerror(a.write_errno));
    if (ctx.should_stop()) throw Interrupted("interrupted while downloading " + what);
    bool complete_body = r.transfer_ok() && (r.status == 200 || r.status == 206);
    if (complete_body && have == file.size) continue;

    std::string reason;
    if (a.overflow || a.bad_range || r.status == 416) {
      reason = a.overflow ? "the server sent more bytes than the file's listed size"
                          : "the server answered a different byte range";
      truncate_to_zero(fd.get(), incomplete);
      have = 0;
      digest.reset();
      progress.bytes = 0;
    } else if (complete_body) {
      reason = "the transfer ended early at " + format_bytes(have);
    } else if (is_transient(r)) {
      reason = describe_failure(r, "download of " + what, ctx.config.token.has_value());
    } else {
      throw Error(describe_failure(r, "download of " + what, ctx.config.token.has_value()));
    }

    failures = a.received > 0 ? 0 : failures + 1;
    if (failures >= ctx.config.backoff.max_attempts)
      throw Error(what + ": giving up after " + std::to_string(failures) +
                  " attempts in a row without progress; last: " + reason +
                  ". The partial file is kept: run the pull again to resume");
    double delay = backoff_delay_s(ctx.config.backoff, std::max(failures - 1, 0), unit(rng));
    if (auto ra = parse_retry_after(r.header("retry-after"), std::time(nullptr)))
      delay = std::min(*ra, 600.0);  // the server says when: no sooner, no jitter needed
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", delay);
    log::warn(what + ": " + reason + "; retrying in " + buf +
              (have ? " from byte " + std::to_string(have) : std::string()));
    sleep_interruptibly(delay, ctx.should_stop);
  }
}

}  // namespace

void fetch_blob(DownloadContext& ctx, const RepoFile& file, const std::string& url,
                FileProgress& progress) {
  const std::string etag = file.etag();
  validate_etag(etag);
  const fs::path blob = ctx.cache.blob_path(etag);
  std::error_code ec;
  auto blob_ok = [&] { return fs::is_regular_file(blob, ec) && fs::file_size(blob, ec) == file.size; };
  if (blob_ok()) {
    progress.bytes = file.size;
    progress.state = FileProgress::done;
    return;
  }
  fs::create_directories(ctx.cache.blobs_dir());
  BlobLock lock(ctx.cache.lock_path(etag), ctx.should_stop,
                [&] { progress.state = FileProgress::waiting; });
  progress.state = FileProgress::active;
  if (blob_ok()) {  // another process finished it while we waited
    progress.bytes = file.size;
    progress.state = FileProgress::done;
    return;
  }
  if (fs::exists(blob, ec)) fs::remove(blob, ec);  // wrong size: not a blob we can trust

  const fs::path incomplete = ctx.cache.incomplete_path(etag);
  std::string expected;
  Digest::Kind kind = Digest::Kind::sha256;
  if (file.is_lfs()) {
    expected = *file.lfs_sha256;
  } else if (is_sha1_hex(file.blob_id)) {
    expected = file.blob_id;
    kind = Digest::Kind::git_blob_sha1;
  }
  const char* hash_name = kind == Digest::Kind::sha256 ? "SHA-256" : "git blob SHA-1";
  Digest digest(kind, file.size);
  for (int round = 0; round < 2; ++round) {
    std::string got = transfer(ctx, file, url, incomplete, progress, digest);
    if (expected.empty() || got == expected) {
      ::chmod(incomplete.c_str(), 0644);
      fs::rename(incomplete, blob);
      progress.state = FileProgress::done;
      return;
    }
    fs::remove(incomplete, ec);
    progress.bytes = 0;
    if (round == 0)
      log::warn(file.path + ": " + hash_name + " mismatch (expected " + expected + ", got " + got +
                "); discarded, fetching it once more");
    else
      throw Error(file.path + " of " + ctx.cache.repo_id() + ": the downloaded content has " +
                  hash_name + " " + got + " but the Hub lists " + expected +
                  ", twice in a row; nothing was kept. Something between here and the Hub "
                  "corrupts the transfer; try again later");
  }
}

}  // namespace pensieve::hub
