// g4 run with --image/--audio on a tiny real-vocabulary model whose width matches the tiny
// mmproj towers: the answer's prompt counts the soft tokens the spec gives, the files keep their
// command-line order, the mmproj next to a model is found, and a model without encoders, a
// missing file or a bad flag value is a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "unit/cli_test_util.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;
const std::string kData = G4_TEST_DATA_DIR;
const std::string kMmproj = kData + "/multimodal/models/tiny.mmproj.f32.gguf";
// 768 x 768: 256 soft tokens at the default budget of 280 and 64 at 70 (spec §4.2's table).
const std::string kImage = kData + "/multimodal/inputs/img_768x768.png";

const std::string& Model() {
  static const std::string path = MakeTinyVocabModel("tiny-vocab-mm");
  return path;
}

// One second of a 440 Hz tone, 16-bit mono 16 kHz: 25 soft tokens (spec §5.5).
const std::string& OneSecondWav() {
  static const std::string path = [] {
    const std::string p = TempPath("tone.wav");
    std::ofstream out(p, std::ios::binary);
    auto u32 = [&](uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
    auto u16 = [&](uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
    const uint32_t n = 16000;
    out.write("RIFF", 4);
    u32(36 + 2 * n);
    out.write("WAVEfmt ", 8);
    u32(16);
    u16(1);
    u16(1);
    u32(16000);
    u32(32000);
    u16(2);
    u16(16);
    out.write("data", 4);
    u32(2 * n);
    for (uint32_t i = 0; i < n; ++i) u16(static_cast<uint16_t>(static_cast<int16_t>(10000 * std::sin(i * 0.1728))));
    return p;
  }();
  return path;
}

// The prompt size from g4's closing statistics line "[N prompt tokens ...".
int PromptTokens(const CliRun& r) {
  std::smatch m;
  if (!std::regex_search(r.output, m, std::regex(R"(\[(\d+) prompt tokens)"))) return -1;
  return std::stoi(m[1]);
}

std::string RunArgs(const std::string& flags) {
  return "run -m " + Model() + " -p 'Describe this.' -n 2 -s 1 -c 1024 -t 2 " + flags;
}

TEST(CliMedia, ImagesAndAudioAddTheirSoftTokens) {
  const CliRun text = RunG4(RunArgs("--mmproj " + kMmproj));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  const int base = PromptTokens(text);
  ASSERT_GT(base, 0) << text.output;
  // <|image> + 256 soft tokens + <image|>.
  CliRun r = RunG4(RunArgs("--mmproj " + kMmproj + " --image " + kImage));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(PromptTokens(r), base + 258) << r.output;
  r = RunG4(RunArgs("--mmproj " + kMmproj + " --image-tokens 70 --image " + kImage + " --image " + kImage));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(PromptTokens(r), base + 2 * 66) << r.output;
  r = RunG4(RunArgs("--mmproj " + kMmproj + " --audio " + OneSecondWav()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(PromptTokens(r), base + 27) << r.output;
}

TEST(CliMedia, FilesKeepTheirOrderBeforeThePrompt) {
  const CliRun r = RunG4(RunArgs("--mmproj " + kMmproj + " --print-prompt --audio " + OneSecondWav() + " --image " + kImage +
                             " --audio " + OneSecondWav()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const size_t audio1 = r.output.find("<|audio");
  const size_t image = r.output.find("<|image");
  const size_t audio2 = r.output.find("<|audio", image);
  const size_t text = r.output.find("Describe this.");
  ASSERT_NE(audio1, std::string::npos) << r.output;
  ASSERT_NE(image, std::string::npos) << r.output;
  ASSERT_NE(audio2, std::string::npos) << r.output;
  EXPECT_LT(audio1, image);
  EXPECT_LT(image, audio2);
  EXPECT_LT(audio2, text);
}

TEST(CliMedia, ModelWithoutEncoderIsAClearError) {
  CliRun r = RunG4(RunArgs("--image " + kImage));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--image: the model has no vision encoder"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--mmproj"), std::string::npos) << r.output;
  EXPECT_EQ(PromptTokens(r), -1) << "answered without the image:\n" << r.output;
  r = RunG4(RunArgs("--audio " + OneSecondWav()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--audio: the model has no audio encoder"), std::string::npos) << r.output;
}

TEST(CliMedia, UnreadableFilesAndBadValuesAreNamed) {
  CliRun r = RunG4(RunArgs("--mmproj " + kMmproj + " --image /nonexistent/cat.png"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--image /nonexistent/cat.png: No such file or directory"), std::string::npos) << r.output;
  r = RunG4(RunArgs("--mmproj " + kMmproj + " --audio " + kData));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is a folder"), std::string::npos) << r.output;
  r = RunG4(RunArgs("--mmproj " + kMmproj + " --image-tokens 100 --image " + kImage));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--image-tokens"), std::string::npos) << r.output;
  r = RunG4(RunArgs("--mmproj " + kMmproj + " --video-frames 257 --image " + kImage));  // kMaxVideoFrames is 256
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--video-frames"), std::string::npos) << r.output;
  // A corrupt image fails the answer with a message naming the part.
  const std::string corrupt = TempPath("corrupt.png");
  std::ofstream(corrupt, std::ios::binary) << "\x89PNG\r\n\x1a\n this is not a PNG";
  r = RunG4(RunArgs("--mmproj " + kMmproj + " --image " + corrupt));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("messages[0].content[0]"), std::string::npos) << r.output;
  fs::remove(corrupt);
}

TEST(CliMedia, ChatAttachesFilesToTheNextMessage) {
  // Turn 1 is text only; /image then goes with turn 2 alone, so turn 2 adds its text, the image
  // and turn 1's answer, and turn 3 (nothing attached) adds no image.
  const std::string script = TempPath("chat.txt");
  std::ofstream(script) << "Hello\n/image " << kImage << "\n/audio /nonexistent.wav\n/help\nDescribe this.\nThanks\n/exit\n";
  const CliRun r = RunG4("chat -m " + Model() + " --mmproj " + kMmproj + " -n 2 -s 1 -c 2048 -t 2 < " + script);
  fs::remove(script);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(attached " + kImage + "; it goes with your next message)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--audio /nonexistent.wav: No such file or directory"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/image PATH, /audio PATH, /video PATH"), std::string::npos) << r.output;
  std::vector<int> prompts;
  const std::regex stats(R"(\[(\d+) prompt tokens)");
  for (std::sregex_iterator it(r.output.begin(), r.output.end(), stats), end; it != end; ++it) {
    prompts.push_back(std::stoi((*it)[1]));
  }
  ASSERT_EQ(prompts.size(), 3u) << r.output;
  // Each turn's prompt holds the earlier ones; the image's 258 tokens arrive in turn 2 only.
  EXPECT_GT(prompts[1] - prompts[0], 258) << r.output;
  EXPECT_LT(prompts[2] - prompts[1], 258) << r.output;
}

TEST(CliMedia, MmprojNextToTheModelIsFound) {
  const fs::path dir = TempPath("model_dir");
  fs::create_directories(dir);
  fs::create_symlink(Model(), dir / "tiny.gguf");
  fs::create_symlink(kMmproj, dir / "mmproj-tiny-f32.gguf");
  const std::string model = (dir / "tiny.gguf").string();
  CliRun r = RunG4("run -m " + model + " -p hi -n 1 -c 1024 -t 2 --image " + kImage);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("encoders from " + (dir / "mmproj-tiny-f32.gguf").string()), std::string::npos) << r.output;
  r = RunG4("run -m " + model + " -p hi -n 1 -c 1024 -t 2 --no-mmproj --image " + kImage);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no vision encoder"), std::string::npos) << r.output;
  // Two candidates: none is guessed.
  fs::create_symlink(kMmproj, dir / "mmproj-other.gguf");
  r = RunG4("run -m " + model + " -p hi -n 1 -c 1024 -t 2 --image " + kImage);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("several mmproj files"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace g4
