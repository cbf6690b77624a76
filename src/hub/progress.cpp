#include "hub/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "common/log.h"
#include "hub/disk_space.h"

namespace pensieve::hub {
namespace {

using Clock = std::chrono::steady_clock;

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

std::string bar(std::uint64_t done, std::uint64_t total, int width) {
  int filled = total ? static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width) : width;
  if (filled > width) filled = width;
  return std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '-');
}

}  // namespace

ProgressDisplay::Mode ProgressDisplay::choose_mode(bool quiet) {
  if (quiet) return Mode::quiet;
  return ::isatty(STDERR_FILENO) ? Mode::bars : Mode::lines;
}

ProgressDisplay::ProgressDisplay(Mode mode, double line_interval_s, std::string title)
    : mode_(mode), interval_s_(line_interval_s), title_(std::move(title)) {}

ProgressDisplay::~ProgressDisplay() { finish(false); }

FileProgress& ProgressDisplay::add_file(const std::string& name, std::uint64_t total,
                                        std::uint64_t already) {
  auto f = std::make_unique<FileProgress>();
  f->name = name;
  f->total = total;
  f->bytes = already;
  start_bytes_ += already;
  files_.push_back(std::move(f));
  return *files_.back();
}

void ProgressDisplay::start() {
  started_ = Clock::now();
  if (mode_ == Mode::quiet) return;
  thread_ = std::thread([this] { loop(); });
}

void ProgressDisplay::finish(bool ok) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (mode_ == Mode::quiet) return;
  if (mode_ == Mode::bars) render(true);
  if (!ok) return;
  std::uint64_t total = 0, done = 0;
  for (const auto& f : files_) {
    total += f->total;
    done += f->bytes.load();
  }
  double secs = std::chrono::duration<double>(Clock::now() - started_).count();
  std::uint64_t fetched = done > start_bytes_ ? done - start_bytes_ : 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, " in %.1fs (%s/s)", secs,
                format_bytes(static_cast<std::uint64_t>(secs > 0 ? fetched / secs : 0)).c_str());
  log::info(title_ + ": " + format_bytes(fetched) + " downloaded of " + format_bytes(total) + buf);
}

std::string ProgressDisplay::summary(std::uint64_t done, std::uint64_t total, double bytes_per_s) {
  int pct = total ? static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)) : 100;
  std::string s = format_bytes(done) + " / " + format_bytes(total) + " (" + std::to_string(pct) + "%)";
  s += " at " + format_bytes(static_cast<std::uint64_t>(bytes_per_s)) + "/s";
  double remaining = static_cast<double>(total > done ? total - done : 0);
  s += ", ETA " + (bytes_per_s > 0 ? format_duration(remaining / bytes_per_s)
                                   : std::string(remaining > 0 ? "?" : "0s"));
  return s;
}

double ProgressDisplay::recent_speed() {
  // Speed over the last ~10 seconds: reacts to changes without jumping on every tick.
  std::uint64_t done = 0;
  for (const auto& f : files_) done += f->bytes.load();
  auto now = Clock::now();
  samples_.emplace_back(now, done);
  while (samples_.size() > 2 && now - samples_.front().first > std::chrono::seconds(10))
    samples_.pop_front();
  double dt = std::chrono::duration<double>(now - samples_.front().first).count();
  if (samples_.size() < 2 || dt <= 0) {
    double since = std::chrono::duration<double>(now - started_).count();
    return since > 0 && done > start_bytes_ ? static_cast<double>(done - start_bytes_) / since : 0;
  }
  auto delta = samples_.back().second - samples_.front().second;
  return static_cast<double>(delta) / dt;
}

void ProgressDisplay::loop() {
  auto interval = mode_ == Mode::bars ? std::chrono::duration<double>(0.2)
                                      : std::chrono::duration<double>(interval_s_);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, interval, [this] { return stopping_; });
    if (stopping_) break;
    render(false);
  }
}

void ProgressDisplay::render(bool final_render) {
  std::uint64_t total = 0, done = 0;
  for (const auto& f : files_) {
    total += f->total;
    done += f->bytes.load();
  }
  double speed = final_render ? 0 : recent_speed();
  if (mode_ == Mode::lines) {
    std::string line = title_ + ": " + summary(done, total, speed);
    std::string active;
    for (const auto& f : files_) {
      int st = f->state.load();
      if (st == FileProgress::active || st == FileProgress::waiting) {
        if (!active.empty()) active += ", ";
        active += f->name + " " + format_bytes(f->bytes.load()) + "/" + format_bytes(f->total);
        if (st == FileProgress::waiting) active += " (waiting for another download)";
      }
    }
    if (!active.empty()) line += " [" + active + "]";
    log::info(line);
    return;
  }
  // Bars: the files in flight and a total line, redrawn over the previous drawing.
  std::string out;
  if (drawn_lines_ > 0) out += "\033[" + std::to_string(drawn_lines_) + "F";
  int lines = 0;
  for (const auto& f : files_) {
    int st = f->state.load();
    if (st != FileProgress::active && st != FileProgress::waiting) continue;
    char buf[256];
    std::snprintf(buf, sizeof buf, "\033[2K  %-40.40s [%s] %s / %s%s\n", f->name.c_str(),
                  bar(f->bytes.load(), f->total, 24).c_str(), format_bytes(f->bytes.load()).c_str(),
                  format_bytes(f->total).c_str(), st == FileProgress::waiting ? " (waiting)" : "");
    out += buf;
    ++lines;
  }
  out += "\033[2K" + title_ + " [" + bar(done, total, 30) + "] " + summary(done, total, speed) + "\n";
  ++lines;
  // Lines left over from a taller previous drawing are cleared.
  for (int i = lines; i < drawn_lines_; ++i) out += "\033[2K\n";
  if (drawn_lines_ > lines) out += "\033[" + std::to_string(drawn_lines_ - lines) + "F";
  drawn_lines_ = lines;
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace pensieve::hub
