#include "hub/digest.h"

#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace pensieve::hub {

Digest::Digest(Kind kind, std::uint64_t size) : kind_(kind), size_(size), ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) throw Error("out of memory creating a hash context");
  reset();
}

Digest::~Digest() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Digest::reset() {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  const EVP_MD* md = kind_ == Kind::sha256 ? EVP_sha256() : EVP_sha1();
  if (EVP_DigestInit_ex(ctx, md, nullptr) != 1) throw Error("cannot initialise a hash");
  if (kind_ == Kind::git_blob_sha1) {
    std::string header = "blob " + std::to_string(size_);
    EVP_DigestUpdate(ctx, header.data(), header.size() + 1);  // with the terminating NUL
  }
  bytes_ = 0;
}

void Digest::update(const void* data, std::size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
  bytes_ += size;
}

void Digest::update_from_file(const std::filesystem::path& path, std::uint64_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path.string());
  std::vector<char> buf(1 << 20);
  while (bytes > 0) {
    auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(bytes, buf.size()));
    in.read(buf.data(), want);
    if (in.gcount() != want) throw Error("cannot read " + path.string());
    update(buf.data(), static_cast<std::size_t>(want));
    bytes -= static_cast<std::uint64_t>(want);
  }
}

std::string Digest::hex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  std::string out;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    out += buf;
  }
  return out;
}

}  // namespace pensieve::hub
