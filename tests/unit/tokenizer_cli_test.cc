// g4 tokenize / g4 detokenize on a tokenizer.json, an HF-style folder and a GGUF.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "tokenizer_test_util.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;

struct CliResult {
  int exit_code;
  std::string out;  // stdout and stderr together
};

// Runs g4 with `input` on stdin (through a temp file, so no shell quoting of the text).
CliResult RunG4(const std::string& args, const std::string& input) {
  const std::string in_path =
      (fs::path(testing::TempDir()) / ("g4_tok_cli_" + std::to_string(::getpid()) + ".in"))
          .string();
  std::ofstream(in_path, std::ios::binary) << input;
  const std::string cmd = std::string(G4_BINARY) + " " + args + " < " + in_path + " 2>&1";
  CliResult r{-1, ""};
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe != nullptr) {
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
    const int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::error_code ec;
  fs::remove(in_path, ec);
  return r;
}

TEST(TokenizerCli, TokenizeAndDetokenizeWithTokenizerJson) {
  ASSERT_TRUE(fs::exists(tokenizer_test::kVocabJson)) << tokenizer_test::MissingVocabMessage();
  const std::string m = "-m " + tokenizer_test::kVocabJson;
  CliResult r = RunG4("tokenize " + m, "<|turn>user\nHello, World!");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "[105,2364,107,9259,236764,4109,236888]\n");
  r = RunG4("tokenize --no-parse-special " + m, "<|turn>");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out, "[105]\n");
  r = RunG4("detokenize " + m, "[105, 2364, 107, 9259, 236764, 4109, 236888]");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "<|turn>user\nHello, World!");
  r = RunG4("detokenize --skip-special " + m, "[2, 105, 2364]");
  EXPECT_EQ(r.out, "user");
  // The folder holding tokenizer.json works as well.
  r = RunG4("tokenize -m " + fs::path(tokenizer_test::kVocabJson).parent_path().string(), "hello");
  EXPECT_EQ(r.out, "[23391]\n");
}

TEST(TokenizerCli, TokenizeWithGgufVocabulary) {
  const std::string m = "-m " + tokenizer_test::kModels + "/tiny-dense.q4_0.gguf";
  CliResult r = RunG4("tokenize " + m, "<bos> the");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string ids = r.out;
  EXPECT_EQ(ids.substr(0, 3), "[2,");
  r = RunG4("detokenize " + m, ids);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "<bos> the");
}

TEST(TokenizerCli, BadInputFails) {
  const std::string m = "-m " + tokenizer_test::kModels + "/tiny-dense.q4_0.gguf";
  CliResult r = RunG4("tokenize " + m, std::string("bad \xFF byte"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("byte offset 4"), std::string::npos) << r.out;
  r = RunG4("detokenize " + m, "[1, 99999]");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("99999"), std::string::npos) << r.out;
  r = RunG4("detokenize " + m, "{\"a\": 1}");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("JSON array"), std::string::npos) << r.out;
  r = RunG4("tokenize -m /nonexistent.gguf", "x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("/nonexistent.gguf"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace g4
