#pragma once
// A download must not start when it cannot finish: the disk is checked first.
#include <cstdint>
#include <filesystem>
#include <string>

namespace pensieve::hub {

// Free bytes for an unprivileged writer on the file system holding `dir` (or its nearest existing
// parent).
std::uint64_t available_bytes(const std::filesystem::path& dir);

// Room kept free on top of the download: 1% plus 8 MiB for file system overhead and other writers.
std::uint64_t disk_margin(std::uint64_t missing_bytes);

// Throws pensieve::Error naming the folder, the bytes needed and the bytes free.
void check_disk_space(const std::filesystem::path& dir, std::uint64_t missing_bytes);

// "1.5 GiB", "340.0 MiB", "12 B".
std::string format_bytes(std::uint64_t bytes);

}  // namespace pensieve::hub
