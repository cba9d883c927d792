// g4 logits: evaluate a token sequence and write the logits of every position (GLG1 format),
// for checking numerics against reference implementations.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "commands.h"
#include "g4/engine.h"
#include "io/glg.h"

namespace g4::cli {
namespace {

struct LogitsArgs {
  std::string model;
  std::string tokens;
  std::string output;
  bool incremental = false;
  int threads = 0;
  int context = 0;
  std::string kv_type = "f32";
};

// "2,17,300" -> ids; an empty item or a non-number is an error naming it.
bool ParseTokenList(const std::string& text, std::vector<int32_t>* ids, std::string* error) {
  size_t start = 0;
  int index = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    char* end = nullptr;
    errno = 0;
    const long long v = item.empty() ? 0 : std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno != 0 || v < INT32_MIN || v > INT32_MAX) {
      *error = Concat("--tokens: item ", index, " ('", item, "') is not an integer token id");
      return false;
    }
    ids->push_back(static_cast<int32_t>(v));
    start = comma + 1;
    ++index;
  }
  return true;
}

int RunLogits(const LogitsArgs& args) {
  std::vector<int32_t> tokens;
  std::string error;
  if (!ParseTokenList(args.tokens, &tokens, &error)) {
    std::fprintf(stderr, "g4 logits: %s\n", error.c_str());
    return 2;
  }
  std::unique_ptr<LoadedModel> model;
  Status st = LoadedModel::Load(args.model, &model);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 logits: %s\n", st.message().c_str());
    return 1;
  }
  SessionConfig sc;
  sc.n_threads = args.threads;
  sc.kv_type = args.kv_type;
  sc.context = args.context > 0 ? args.context : static_cast<int>(tokens.size());
  std::unique_ptr<Session> session;
  st = Session::Create(*model, sc, &session);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 logits: %s\n", st.message().c_str());
    return 1;
  }
  LogitsFile out;
  out.tokens = tokens;
  out.n_vocab = model->vocab_size();
  if (args.incremental) {
    std::vector<float> row;
    for (int32_t id : tokens) {
      st = session->Eval({id}, false, &row);
      if (!st.ok()) break;
      out.logits.insert(out.logits.end(), row.begin(), row.end());
    }
  } else {
    st = session->Eval(tokens, true, &out.logits);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "g4 logits: %s\n", st.message().c_str());
    return 1;
  }
  try {
    WriteGlg(args.output, out);
  } catch (const Error& e) {
    std::fprintf(stderr, "g4 logits: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "g4 logits: wrote %zu positions x %d logits to %s\n", tokens.size(), out.n_vocab,
               args.output.c_str());
  return 0;
}

}  // namespace

Runner AddLogitsCommand(CLI::App& app) {
  auto args = std::make_shared<LogitsArgs>();
  CLI::App* sub = app.add_subcommand("logits", "Evaluate token ids and write every position's logits (GLG1 file)");
  sub->add_option("-m,--model", args->model, "GGUF file or Hugging Face checkpoint folder")->required();
  sub->add_option("--tokens", args->tokens, "comma-separated token ids, e.g. 2,17,300")->required();
  sub->add_option("-o,--output", args->output, "output GLG1 file")->required();
  sub->add_flag("--incremental", args->incremental, "feed one token at a time through the KV cache");
  sub->add_option("-t,--threads", args->threads, "threads (default: all cores)");
  sub->add_option("-c,--ctx", args->context, "context size (default: the number of tokens)");
  sub->add_option("--kv-type", args->kv_type, "KV cache entries: f32 (default here, for exact checks), f16, bf16, q8_0");
  return [args] { return RunLogits(*args); };
}

}  // namespace g4::cli
