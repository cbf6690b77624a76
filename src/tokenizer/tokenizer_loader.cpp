// Tokenizer::from_directory: reads tokenizer.json and the transformers side files.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "tokenizer/tokenizer_impl.h"

namespace pensieve::tokenizer {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::optional<json> read_json(const fs::path& path, bool required) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (required) throw Error(path.string() + ": cannot open the file");
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return json::parse(buffer.str());
  } catch (const json::exception& e) {
    throw Error(path.string() + ": malformed JSON (" + e.what() + ")");
  }
}

// "bos_token": "<s>" or {"content": "<s>", ...} or null.
std::optional<std::string> token_content(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

std::optional<std::string> chat_template_of(const json& config) {
  if (!config.contains("chat_template")) return std::nullopt;
  const json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {  // [{"name": "default", "template": ...}, ...]
    for (const auto& entry : t) {
      if (entry.value("name", "") == "default") return entry.at("template").get<std::string>();
    }
  }
  return std::nullopt;
}

void load_added_tokens(Tokenizer::Impl& impl, const json& list) {
  // Ids as `tokenizers` assigns them: the vocab id when the content is in the model's vocab,
  // else the next id after the model's vocab and the added tokens so far.
  const auto model_size = static_cast<int32_t>(impl.model->vocab_size());
  int32_t max_added = -1;
  for (const auto& entry : list) {
    AddedToken t;
    t.content = entry.at("content").get<std::string>();
    t.special = entry.value("special", false);
    t.lstrip = entry.value("lstrip", false);
    t.rstrip = entry.value("rstrip", false);
    t.normalized = entry.value("normalized", !t.special);
    t.single_word = entry.value("single_word", false);
    if (impl.added_ids.count(t.content)) continue;  // a repeated content adds nothing
    if (const auto id = impl.model->token_to_id(t.content)) {
      t.id = *id;
    } else {
      t.id = (max_added >= model_size) ? max_added + 1 : model_size;
    }
    max_added = std::max(max_added, t.id);
    impl.added_ids[t.content] = t.id;
    impl.added_by_id.emplace(t.id, impl.added.size());
    if (t.special) impl.special_contents.insert(t.content);
    impl.added.push_back(std::move(t));
  }
  for (std::size_t i = 0; i < impl.added.size(); ++i) {
    const AddedToken& t = impl.added[i];
    if (!t.normalized) {
      impl.raw_matcher.add(t.content, i);
    } else {
      std::string pattern = t.content;
      if (impl.normalizer) impl.normalizer->normalize(pattern);
      impl.normalized_matcher.add(pattern, i);
    }
  }
  impl.vocab_size = impl.model->vocab_size();
  for (const auto& t : impl.added) {
    if (!impl.model->token_to_id(t.content)) ++impl.vocab_size;
  }
}

void load_tokenizer_json(Tokenizer::Impl& impl, const json& tj) {
  if (!tj.is_object()) throw Error("not a JSON object");
  impl.normalizer = make_normalizer(tj.value("normalizer", json()));
  impl.pre_tokenizer = make_pre_tokenizer(tj.value("pre_tokenizer", json()));
  impl.model = std::make_unique<BpeModel>(tj.at("model"));
  impl.decoder = make_decoder(tj.value("decoder", json()));
  impl.post_template = make_single_template(tj.value("post_processor", json()));
  load_added_tokens(impl, tj.value("added_tokens", json::array()));
}

}  // namespace

Tokenizer Tokenizer::from_directory(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": not a directory");
  auto impl = std::make_unique<Impl>();
  const fs::path tokenizer_json = dir / "tokenizer.json";
  const json tj = *read_json(tokenizer_json, true);
  try {
    load_tokenizer_json(*impl, tj);
  } catch (const json::exception& e) {
    throw Error(tokenizer_json.string() + ": malformed (" + e.what() + ")");
  } catch (const Error& e) {
    throw Error(tokenizer_json.string() + ": " + e.what());
  }

  const auto special_map = read_json(dir / "special_tokens_map.json", false);
  const auto config = read_json(dir / "tokenizer_config.json", false);
  for (const auto* source : {&special_map, &config}) {  // tokenizer_config.json wins
    if (!*source || !(*source)->is_object()) continue;
    if (auto bos = token_content(**source, "bos_token")) impl->bos_token = bos;
    if (auto eos = token_content(**source, "eos_token")) impl->eos_token = eos;
  }
  if (config && config->is_object()) {
    if (config->contains("add_bos_token") && (*config)["add_bos_token"].is_boolean()) {
      impl->add_bos_token = (*config)["add_bos_token"].get<bool>();
    }
    impl->chat_template = chat_template_of(*config);
  }
  if (!impl->chat_template) {  // newer repositories keep it in its own file
    std::ifstream in(dir / "chat_template.jinja", std::ios::binary);
    if (in) {
      std::stringstream buffer;
      buffer << in.rdbuf();
      impl->chat_template = buffer.str();
    }
  }
  // added_tokens.json ({"token": id}) only matters for slow tokenizers; tokenizer.json already
  // lists every added token, so it is read just to check it agrees.
  if (const auto extra = read_json(dir / "added_tokens.json", false); extra && extra->is_object()) {
    for (const auto& [content, id] : extra->items()) {
      const auto it = impl->added_ids.find(content);
      if (it == impl->added_ids.end() && !impl->model->token_to_id(content)) {
        throw Error((dir / "added_tokens.json").string() + ": token " + content +
                    " is not in tokenizer.json");
      }
      (void)id;
    }
  }
  if (const auto gen = read_json(dir / "generation_config.json", false); gen && gen->is_object()) {
    const json eos = gen->value("eos_token_id", json());
    if (eos.is_number_integer()) impl->extra_eos_ids.push_back(eos.get<TokenId>());
    if (eos.is_array()) {
      for (const auto& id : eos) {
        if (id.is_number_integer()) impl->extra_eos_ids.push_back(id.get<TokenId>());
      }
    }
  }
  return Tokenizer(std::move(impl));
}

}  // namespace pensieve::tokenizer
