#include "model/config.h"

#include <cmath>
#include <fstream>

#include "common/error.h"

namespace pensieve::model {
namespace {

using nlohmann::json;

Error field_error(const std::string& field, const std::string& what) {
  return Error("config.json: field '" + field + "' " + what);
}

int positive_int(const json& j, const std::string& key) {
  if (!j.contains(key)) throw field_error(key, "is missing");
  const auto& v = j.at(key);
  if (!v.is_number_integer() || v.get<long long>() <= 0 || v.get<long long>() > (1LL << 30))
    throw field_error(key, "must be a positive integer, got " + v.dump());
  return v.get<int>();
}

int optional_positive_int(const json& j, const std::string& key, int fallback) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  return positive_int(j, key);
}

float number(const json& j, const std::string& key, float fallback) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  const auto& v = j.at(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    throw field_error(key, "must be a number, got " + v.dump());
  return v.get<float>();
}

std::vector<float> factor_list(const json& scaling, const std::string& key, int expected) {
  const std::string field = "rope_scaling." + key;
  if (!scaling.contains(key)) throw field_error(field, "is missing");
  const auto& v = scaling.at(key);
  if (!v.is_array()) throw field_error(field, "must be a list of numbers");
  if (static_cast<int>(v.size()) != expected)
    throw field_error(field, "has " + std::to_string(v.size()) + " entries, expected " +
                                 std::to_string(expected) + " (rotary dims / 2)");
  std::vector<float> out;
  for (const auto& x : v) {
    if (!x.is_number() || !(x.get<double>() > 0)) throw field_error(field, "must hold positive numbers");
    out.push_back(x.get<float>());
  }
  return out;
}

QuantSpec quant_spec(const json& v, const std::string& field) {
  if (!v.is_object()) throw field_error(field, "must be an object with group_size and bits");
  QuantSpec q{positive_int(v, "group_size"), positive_int(v, "bits")};
  if (v.contains("mode") && v.at("mode") != "affine")
    throw field_error(field + ".mode", "is " + v.at("mode").dump() + "; only affine is supported");
  if (q.bits != 2 && q.bits != 3 && q.bits != 4 && q.bits != 5 && q.bits != 6 && q.bits != 8)
    throw field_error(field + ".bits", "must be 2, 3, 4, 5, 6 or 8, got " + std::to_string(q.bits));
  if (q.group_size != 32 && q.group_size != 64 && q.group_size != 128)
    throw field_error(field + ".group_size", "must be 32, 64 or 128, got " + std::to_string(q.group_size));
  return q;
}

std::vector<int> id_list(const json& v) {
  if (v.is_number_integer()) return {v.get<int>()};
  std::vector<int> out;
  if (v.is_array())
    for (const auto& x : v)
      if (x.is_number_integer()) out.push_back(x.get<int>());
  return out;
}

void parse_rope_scaling(const json& j, ModelConfig& c) {
  if (!j.contains("rope_scaling") || j.at("rope_scaling").is_null()) return;
  const auto& s = j.at("rope_scaling");
  if (!s.is_object()) throw field_error("rope_scaling", "must be an object or null");
  std::string type = s.value("type", s.value("rope_type", std::string{}));
  if (type == "su" || type == "longrope") {
    c.rope_scaling = RopeScaling::longrope;
    int half = c.rope_dims() / 2;
    c.rope_short_factor = factor_list(s, "short_factor", half);
    c.rope_long_factor = factor_list(s, "long_factor", half);
  } else if (type == "linear") {
    c.rope_scaling = RopeScaling::linear;
    c.rope_linear_factor = number(s, "factor", 0.0f);
    if (!(c.rope_linear_factor > 0)) throw field_error("rope_scaling.factor", "must be a positive number");
  } else if (type == "default") {
    c.rope_scaling = RopeScaling::none;
  } else {
    throw field_error("rope_scaling.type",
                      "is '" + type + "'; supported: su, longrope, linear (or null for none)");
  }
}

void parse_quantization(const json& j, ModelConfig& c) {
  if (!j.contains("quantization") || j.at("quantization").is_null()) return;
  const auto& q = j.at("quantization");
  if (!q.is_object()) throw field_error("quantization", "must be an object");
  c.quantization = quant_spec(q, "quantization");
  for (const auto& [key, value] : q.items()) {
    if (key == "group_size" || key == "bits" || key == "mode") continue;
    if (value.is_boolean()) {
      if (value.get<bool>()) c.quantization_overrides[key] = c.quantization;
      else c.quantization_overrides[key] = std::nullopt;
    } else if (value.is_object()) {
      c.quantization_overrides[key] = quant_spec(value, "quantization." + key);
    } else {
      throw field_error("quantization." + key, "must be an object or a boolean");
    }
  }
}

}  // namespace

std::optional<QuantSpec> ModelConfig::quant_for(const std::string& module) const {
  if (auto it = quantization_overrides.find(module); it != quantization_overrides.end())
    return it->second;
  return quantization;
}

ModelConfig ModelConfig::parse(const json& j) {
  if (!j.is_object()) throw Error("config.json: expected a JSON object");
  ModelConfig c;
  c.model_type = j.value("model_type", std::string{});
  if (c.model_type != "phi3") {
    std::string arch = c.model_type;
    if (arch.empty() && j.contains("architectures") && j["architectures"].is_array() &&
        !j["architectures"].empty())
      arch = j["architectures"][0].dump();
    throw Error("config.json: unsupported architecture '" + (arch.empty() ? "(none)" : arch) +
                "' (model_type); Pensieve supports: phi3");
  }
  c.hidden_size = positive_int(j, "hidden_size");
  c.num_hidden_layers = positive_int(j, "num_hidden_layers");
  c.intermediate_size = positive_int(j, "intermediate_size");
  c.num_attention_heads = positive_int(j, "num_attention_heads");
  c.num_key_value_heads = optional_positive_int(j, "num_key_value_heads", c.num_attention_heads);
  c.vocab_size = positive_int(j, "vocab_size");
  if (c.hidden_size % c.num_attention_heads != 0)
    throw field_error("hidden_size", "must be a multiple of num_attention_heads");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw field_error("num_key_value_heads", "must divide num_attention_heads");
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.rms_norm_eps = number(j, "rms_norm_eps", 1e-5f);
  if (!(c.rms_norm_eps > 0)) throw field_error("rms_norm_eps", "must be positive");
  c.rope_theta = number(j, "rope_theta", 10000.0f);
  if (!(c.rope_theta > 1)) throw field_error("rope_theta", "must be greater than 1");
  c.partial_rotary_factor = number(j, "partial_rotary_factor", 1.0f);
  if (!(c.partial_rotary_factor > 0 && c.partial_rotary_factor <= 1) || c.rope_dims() % 2 != 0)
    throw field_error("partial_rotary_factor", "must be in (0, 1] and give an even rotary size");
  c.max_position_embeddings = optional_positive_int(j, "max_position_embeddings", 4096);
  c.original_max_position_embeddings =
      optional_positive_int(j, "original_max_position_embeddings", c.max_position_embeddings);
  if (j.contains("tie_word_embeddings") && !j.at("tie_word_embeddings").is_null()) {
    if (!j.at("tie_word_embeddings").is_boolean())
      throw field_error("tie_word_embeddings", "must be true or false");
    c.tie_word_embeddings = j.at("tie_word_embeddings").get<bool>();
  }
  if (j.contains("eos_token_id")) c.eos_token_ids = id_list(j.at("eos_token_id"));
  if (j.contains("bos_token_id") && j.at("bos_token_id").is_number_integer())
    c.bos_token_id = j.at("bos_token_id").get<int>();
  parse_rope_scaling(j, c);
  parse_quantization(j, c);
  return c;
}

ModelConfig ModelConfig::load(const std::filesystem::path& model_dir) {
  auto path = model_dir / "config.json";
  std::ifstream in(path);
  if (!in) throw Error("model directory " + model_dir.string() + " has no config.json");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error("config.json is not valid JSON: " + std::string(e.what()));
  }
  return parse(j);
}

}  // namespace pensieve::model
