#pragma once
// The fields of a Phi-3 config.json that shape the model, checked once at load. Any field that is
// missing, of the wrong type or out of range is an error naming the field.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pensieve::model {

enum class RopeScaling { none, linear, longrope };  // "su" and "longrope" are the same scheme

struct QuantSpec {
  int group_size = 0;
  int bits = 0;
  bool operator==(const QuantSpec&) const = default;
};

struct ModelConfig {
  std::string model_type;
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int intermediate_size = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  float partial_rotary_factor = 1.0f;
  int max_position_embeddings = 4096;
  int original_max_position_embeddings = 4096;
  bool tie_word_embeddings = false;
  std::vector<int> eos_token_ids;
  std::optional<int> bos_token_id;

  RopeScaling rope_scaling = RopeScaling::none;
  float rope_linear_factor = 1.0f;
  std::vector<float> rope_short_factor;  // head_dim*partial/2 entries each (longrope)
  std::vector<float> rope_long_factor;

  // Quantization as mlx-lm writes it: a default, and per-module entries that override it
  // (a spec, or nullopt for a module left unquantized). Absent → unquantized model.
  std::optional<QuantSpec> quantization;
  std::map<std::string, std::optional<QuantSpec>> quantization_overrides;

  int rope_dims() const { return static_cast<int>(head_dim * partial_rotary_factor); }
  // The quantization of one module (e.g. "model.layers.0.mlp.down_proj"), if any.
  std::optional<QuantSpec> quant_for(const std::string& module) const;

  static ModelConfig parse(const nlohmann::json& j);
  static ModelConfig load(const std::filesystem::path& model_dir);  // reads config.json
};

}  // namespace pensieve::model
