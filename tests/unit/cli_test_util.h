// Running the g4 binary from a test, and the tiny random models with the real Gemma 4
// vocabulary that g4-random-model makes from the fetched tokenizer.json.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace g4 {

struct CliRun {
  int exit_code;
  std::string output;  // stdout and stderr together
};

inline CliRun RunG4(const std::string& args) {
  const std::string cmd = std::string(G4_BINARY) + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  CliRun r{-1, ""};
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A path in the temp folder, unique to this process.
inline std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("g4_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

// Makes tests/data/models/CONFIG.q4_0.config.json into a GGUF with the real vocabulary (once per
// process; removed at exit). Empty, with a test failure, when the vocabulary is missing.
inline std::string MakeTinyVocabModel(const std::string& config) {
  const std::string vocab = G4_GEMMA4_TOKENIZER_JSON;
  if (!std::filesystem::exists(vocab)) {
    ADD_FAILURE() << vocab << " is missing: run scripts/fetch_gemma4_vocab.sh " << vocab;
    return "";
  }
  const std::string out = TempPath(config + ".gguf");
  const std::string cmd = std::string(G4_RANDOM_MODEL_BINARY) + " --config " + G4_TEST_DATA_DIR + "/models/" + config +
                          ".q4_0.config.json --type q4_0 --seed 1234 -q --vocab " + vocab + " -o " + out + " > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  static std::vector<std::string> made;
  if (made.empty()) std::atexit([] { for (const std::string& f : made) std::filesystem::remove(f); });
  made.push_back(out);
  return out;
}

}  // namespace g4
