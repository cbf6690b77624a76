#include "tokenizer/post_processor.h"

#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"

namespace pensieve::tokenizer {

using nlohmann::json;

SingleTemplate make_single_template(const json& spec) {
  SingleTemplate result;
  if (spec.is_null()) return result;
  const std::string type = spec.value("type", "");
  if (type == "ByteLevel") return result;
  if (type == "Sequence") {
    for (const auto& p : spec.at("processors")) {
      SingleTemplate part = make_single_template(p);
      if (!part.present) continue;
      if (result.present) throw Error("post_processor Sequence with two templates is not supported");
      result = part;
    }
    return result;
  }
  if (type != "TemplateProcessing") throw Error("post_processor \"" + type + "\" is not supported");
  result.present = true;
  const json& specials = spec.at("special_tokens");
  bool seen_text = false;
  for (const auto& item : spec.at("single")) {
    if (item.contains("Sequence")) {
      if (item["Sequence"].at("id").get<std::string>() != "A") {
        throw Error("post_processor TemplateProcessing: single template uses sequence B");
      }
      seen_text = true;
      continue;
    }
    const auto name = item.at("SpecialToken").at("id").get<std::string>();
    if (!specials.contains(name)) {
      throw Error("post_processor TemplateProcessing: special token " + name + " has no ids");
    }
    for (const auto& id : specials[name].at("ids")) {
      (seen_text ? result.after : result.before).push_back(id.get<int32_t>());
    }
  }
  return result;
}

}  // namespace pensieve::tokenizer
