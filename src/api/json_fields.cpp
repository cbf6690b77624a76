#include "api/json_fields.h"

#include <cmath>
#include <cstdio>

#include "api/chat.h"

namespace pensieve::api::fields {
namespace {

std::string show(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

}  // namespace

void reject(const std::string& path, const std::string& problem) {
  throw ApiError(ErrorKind::invalid_request, path + ": " + problem, path);
}

const json* find(const json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string join(const std::string& path, std::size_t index) {
  return path + "." + std::to_string(index);
}

const json& expect_object(const json& value, const std::string& path) {
  if (!value.is_object()) reject(path, "expected an object");
  return value;
}

const json& expect_array(const json& value, const std::string& path) {
  if (!value.is_array()) reject(path, "expected a list");
  return value;
}

const std::string& expect_string(const json& value, const std::string& path) {
  if (!value.is_string()) reject(path, "expected a string");
  return value.get_ref<const std::string&>();
}

bool expect_bool(const json& value, const std::string& path) {
  if (!value.is_boolean()) reject(path, "expected true or false");
  return value.get<bool>();
}

double expect_number(const json& value, const std::string& path) {
  if (!value.is_number()) reject(path, "expected a number");
  return value.get<double>();
}

int64_t expect_integer(const json& value, const std::string& path, int64_t min, int64_t max) {
  const std::string range = "an integer in [" + std::to_string(min) + ", " +
                            std::to_string(max) + "]";
  if (value.is_number_unsigned()) {
    uint64_t got = value.get<uint64_t>();
    if (got > static_cast<uint64_t>(max) || static_cast<int64_t>(got) < min) {
      reject(path, "expected " + range + ", got " + std::to_string(got));
    }
    return static_cast<int64_t>(got);
  }
  if (value.is_number_integer()) {
    int64_t got = value.get<int64_t>();
    if (got < min || got > max) reject(path, "expected " + range + ", got " + std::to_string(got));
    return got;
  }
  if (value.is_number_float()) {
    double got = value.get<double>();
    if (std::floor(got) != got || got < static_cast<double>(min) ||
        got > static_cast<double>(max)) {
      reject(path, "expected " + range + ", got " + show(got));
    }
    return static_cast<int64_t>(got);
  }
  reject(path, "expected " + range);
}

double expect_number_in(const json& value, const std::string& path, double min, double max) {
  double got = expect_number(value, path);
  if (!(got >= min && got <= max)) {
    reject(path, "expected a number in [" + show(min) + ", " + show(max) + "], got " + show(got));
  }
  return got;
}

std::string to_wire(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace pensieve::api::fields
