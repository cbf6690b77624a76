#include "model/weight_table.h"

#include <sstream>

#include "common/error.h"
#include "model/weight_loader.h"

namespace pensieve::model {
namespace mx = mlx::core;

namespace {
std::string shape_str(const mx::Shape& s) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}
bool is_float(mx::Dtype d) { return d == mx::float32 || d == mx::float16 || d == mx::bfloat16; }
}  // namespace

WeightTable::WeightTable(const std::filesystem::path& dir, const ModelConfig& config)
    : config_(config), tensors_(load_weights(dir)) {
  if (auto it = tensors_.find("model.norm.weight"); it != tensors_.end() && is_float(it->second.array.dtype()))
    float_dtype_ = it->second.array.dtype();
}

mx::array WeightTable::take(const std::string& name, const mx::Shape& shape, bool want_float) {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error("weights: tensor '" + name + "' is missing");
  const auto& a = it->second.array;
  if (a.shape() != shape)
    throw Error("weights: tensor '" + name + "' has shape " + shape_str(a.shape()) + ", expected " +
                shape_str(shape) + " from config.json");
  if (want_float ? !is_float(a.dtype()) : a.dtype() != mx::uint32)
    throw Error("weights: tensor '" + name + "' has the wrong dtype (expected " +
                (want_float ? "a float type" : "uint32 packed quantized data") + ")");
  used_.insert(name);
  return a;
}

mx::array WeightTable::norm(const std::string& module, int size) {
  return take(module + ".weight", {size}, true);
}

kernels::LinearWeight WeightTable::linear(const std::string& module, int out, int in) {
  const bool has_scales = tensors_.count(module + ".scales") > 0;
  auto spec = config_.quant_for(module);
  if (!has_scales)  // as mlx-lm: a module without scales was left unquantized
    return kernels::LinearWeight{take(module + ".weight", {out, in}, true), std::nullopt, std::nullopt};
  if (!spec)
    throw Error("weights: '" + module + "' is quantized but config.json has no quantization for it");
  if (in % spec->group_size != 0 || (in * spec->bits) % 32 != 0)
    throw Error("weights: '" + module + "' input size " + std::to_string(in) +
                " does not fit group size " + std::to_string(spec->group_size));
  const int groups = in / spec->group_size;
  return kernels::LinearWeight{take(module + ".weight", {out, in * spec->bits / 32}, false),
                               take(module + ".scales", {out, groups}, true),
                               take(module + ".biases", {out, groups}, true), spec->group_size,
                               spec->bits};
}

kernels::LinearWeight WeightTable::tiled16(const std::string& module, const kernels::LinearWeight& w) const {
  // One tensor at a time: each pass reads and repacks a single tensor (kernels/repack.h).
  auto part = [&](const char* suffix) { return load_tiled16(tensors_.at(module + suffix)); };
  kernels::LinearWeight out = w;
  out.weight = part(".weight");
  out.scales = part(".scales");
  out.biases = part(".biases");
  out.layout = kernels::WeightLayout::tiled16;
  return out;
}

void WeightTable::check_all_used() const {
  for (const auto& [name, _] : tensors_) {
    if (used_.count(name)) continue;
    if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;  // derived, not a weight
    throw Error("weights: unexpected tensor '" + name + "' (not part of a " + config_.model_type +
                " model with this config)");
  }
}

}  // namespace pensieve::model
