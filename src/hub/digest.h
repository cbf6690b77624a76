#pragma once
// Incremental SHA-256 (LFS files) and git blob SHA-1 (small files) over OpenSSL's EVP.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace pensieve::hub {

class Digest {
 public:
  enum class Kind { sha256, git_blob_sha1 };
  // A git blob id hashes "blob <size>\0" before the content, so it needs the size up front.
  Digest(Kind kind, std::uint64_t size);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void reset();
  void update(const void* data, std::size_t size);
  // Feeds the first `bytes` of a file (to resume a partial download's hash).
  void update_from_file(const std::filesystem::path& path, std::uint64_t bytes);
  std::string hex();  // finishes the hash; call reset() before reusing
  std::uint64_t bytes() const { return bytes_; }

 private:
  Kind kind_;
  std::uint64_t size_;
  void* ctx_;
  std::uint64_t bytes_ = 0;
};

}  // namespace pensieve::hub
