// g4 tokenize / g4 detokenize: text <-> token ids with a model's tokenizer.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "commands.h"
#include "tokenizer/tokenizer.h"

namespace g4::cli {
namespace {

constexpr char kModelHelp[] =
    "GGUF file (its tokenizer.ggml.* metadata), Hugging Face folder, or tokenizer.json";

struct TokenizeArgs {
  std::string model;
  bool no_parse_special = false;
};

struct DetokenizeArgs {
  std::string model;
  bool skip_special = false;
  bool no_clean_spaces = false;
};

std::string ReadStdin() {
  std::ios::sync_with_stdio(false);
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

int RunTokenize(const TokenizeArgs& args) {
  try {
    const std::unique_ptr<Tokenizer> tok = Tokenizer::Load(args.model);
    // The text is taken verbatim: a trailing newline from `echo` is a token too.
    const std::vector<int32_t> ids = tok->Encode(ReadStdin(), !args.no_parse_special);
    std::printf("%s\n", nlohmann::json(ids).dump().c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "g4 tokenize: %s\n", e.what());
    return 1;
  }
}

int RunDetokenize(const DetokenizeArgs& args) {
  try {
    const std::unique_ptr<Tokenizer> tok = Tokenizer::Load(args.model);
    const nlohmann::json input = nlohmann::json::parse(ReadStdin(), nullptr, false);
    if (!input.is_array()) Fail("stdin: expected a JSON array of token ids");
    std::vector<int32_t> ids;
    ids.reserve(input.size());
    for (size_t i = 0; i < input.size(); ++i) {
      const nlohmann::json& v = input[i];
      if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX) {
        Fail("stdin: element ", i, " (", v.dump(), ") is not a token id");
      }
      ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    const std::string text = tok->Decode(ids, !args.skip_special, !args.no_clean_spaces);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "g4 detokenize: %s\n", e.what());
    return 1;
  }
}

}  // namespace

Runner AddTokenizeCommand(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* sub = app.add_subcommand("tokenize", "Text on stdin -> token ids as a JSON array");
  sub->add_option("-m,--model", args->model, kModelHelp)->required();
  sub->add_flag("--no-parse-special", args->no_parse_special,
                "treat special tokens written in the text (<|turn>, <bos>, ...) as plain text");
  return [args] { return RunTokenize(*args); };
}

Runner AddDetokenizeCommand(CLI::App& app) {
  auto args = std::make_shared<DetokenizeArgs>();
  CLI::App* sub = app.add_subcommand("detokenize", "JSON array of token ids on stdin -> text");
  sub->add_option("-m,--model", args->model, kModelHelp)->required();
  sub->add_flag("--skip-special", args->skip_special, "drop control tokens (<bos>, <|turn>, ...)");
  sub->add_flag("--no-clean-spaces", args->no_clean_spaces,
                "print the exact concatenation of the pieces (no \" .\" -> \".\" clean-up)");
  return [args] { return RunDetokenize(*args); };
}

}  // namespace g4::cli
