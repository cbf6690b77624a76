#include "hub/disk_space.h"

#include <sys/statvfs.h>

#include <cstdio>
#include <string>

#include "common/error.h"

namespace pensieve::hub {
namespace fs = std::filesystem;

std::uint64_t available_bytes(const fs::path& dir) {
  fs::path p = fs::absolute(dir);
  while (!fs::exists(p) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  struct statvfs st {};
  if (statvfs(p.c_str(), &st) != 0) throw Error("cannot read the free space of " + p.string());
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

std::uint64_t disk_margin(std::uint64_t missing_bytes) { return missing_bytes / 100 + (8ull << 20); }

void check_disk_space(const fs::path& dir, std::uint64_t missing_bytes) {
  if (missing_bytes == 0) return;
  std::uint64_t needed = missing_bytes + disk_margin(missing_bytes);
  std::uint64_t free_bytes = available_bytes(dir);
  if (free_bytes < needed)
    throw Error("not enough disk space in " + dir.string() + ": the download needs " +
                format_bytes(missing_bytes) + " (" + format_bytes(needed) +
                " with a safety margin) but only " + format_bytes(free_bytes) +
                " are free; free some space or point HF_HUB_CACHE at a larger disk");
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace pensieve::hub
