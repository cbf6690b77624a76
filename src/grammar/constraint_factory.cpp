#include "common/error.h"
#include "grammar/constraint.h"
#include "grammar/grammar_source.h"
#include "grammar/llg_matcher.h"

namespace pensieve::grammar {
namespace {

std::shared_ptr<CompiledGrammar> compile(std::shared_ptr<const Vocabulary> vocab, const char* kind,
                                         const std::string& source, const std::string& what) {
  if (!vocab) throw Error("grammar: no vocabulary");
  auto grammar = std::make_shared<CompiledGrammar>();
  grammar->tokenizer = llg_tokenizer_for(vocab);
  grammar->vocab = std::move(vocab);
  grammar->initial = std::make_unique<Matcher>(grammar->tokenizer.get(), kind, source, what);
  return grammar;
}

std::string dump_schema(const nlohmann::ordered_json& schema) {
  try {
    return with_layout(schema, /*lenient=*/false).dump();
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string
    throw Error(std::string("invalid JSON schema: ") + e.what());
  }
}

// Names the tool whose schema llguidance rejects, when the combined grammar fails to compile.
void throw_for_bad_tool(const LlgTokenizer* tokenizer, const std::vector<Tool>& tools) {
  for (const Tool& tool : tools) {
    Matcher check(tokenizer, "json_schema", tool_call_schema(tool).dump(),
                  "invalid input_schema of tool '" + tool.name + "'");
  }
}

// What a lazy constraint needs to spot the trigger in free text, split across tokens or not.
void prepare_trigger(CompiledGrammar& grammar) {
  const Vocabulary& vocab = *grammar.vocab;
  grammar.trigger = kToolCallOpen;
  grammar.byte_token.fill(-1);
  for (size_t id = 0; id < vocab.token_bytes.size(); ++id) {
    const std::string& bytes = vocab.token_bytes[id];
    if (vocab.is_special[id] || bytes.empty()) continue;
    const auto token = static_cast<int32_t>(id);
    const auto first = static_cast<unsigned char>(bytes[0]);
    if (bytes.size() == 1 && grammar.byte_token[first] < 0) grammar.byte_token[first] = token;
    grammar.starting_with[first].push_back(token);
    if (bytes.find(grammar.trigger[0]) != std::string::npos)
      grammar.containing_trigger_start.push_back(token);
  }
  std::vector<uint32_t> trigger_tokens;
  for (unsigned char c : grammar.trigger) {
    if (grammar.byte_token[c] < 0) throw Error("grammar: the vocabulary cannot spell the tool-call tag");
    trigger_tokens.push_back(static_cast<uint32_t>(grammar.byte_token[c]));
  }
  grammar.after_trigger = grammar.initial->clone();
  grammar.after_trigger->consume(trigger_tokens.data(), trigger_tokens.size());
}

}  // namespace

ConstraintFactory::ConstraintFactory(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)) {}

ConstraintFactory::~ConstraintFactory() = default;

std::shared_ptr<ConstraintFactory> ConstraintFactory::json_schema(
    std::shared_ptr<const Vocabulary> vocab, const nlohmann::ordered_json& schema) {
  return std::make_shared<ConstraintFactory>(
      compile(std::move(vocab), "json_schema", dump_schema(schema), "invalid JSON schema"));
}

std::shared_ptr<ConstraintFactory> ConstraintFactory::json_object(
    std::shared_ptr<const Vocabulary> vocab) {
  return json_schema(std::move(vocab), {{"type", "object"}});
}

std::shared_ptr<ConstraintFactory> ConstraintFactory::tool_calls(
    std::shared_ptr<const Vocabulary> vocab, const std::vector<Tool>& tools, bool forced, bool single_call) {
  std::string lark;
  try {
    lark = tool_calls_lark(tools, single_call);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("invalid tool input_schema: ") + e.what());
  }
  std::shared_ptr<CompiledGrammar> grammar;
  try {
    grammar = compile(vocab, "lark", lark, "invalid tool definitions");
  } catch (const Error&) {
    throw_for_bad_tool(llg_tokenizer_for(vocab).get(), tools);
    throw;
  }
  if (!forced) prepare_trigger(*grammar);
  return std::make_shared<ConstraintFactory>(std::move(grammar));
}

std::unique_ptr<Constraint> ConstraintFactory::make() const {
  return std::unique_ptr<Constraint>(new Constraint(grammar_));
}

}  // namespace pensieve::grammar
