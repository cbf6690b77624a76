#include "api/ids.h"

#include <random>

namespace pensieve::api {

std::string random_id(std::string_view prefix, int length) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::string id(prefix);
  for (int i = 0; i < length; ++i) id += kAlphabet[pick(generator)];
  return id;
}

}  // namespace pensieve::api
