// Chat requests with media on a tiny random model that carries the real Gemma 4 vocabulary
// (made here with g4-random-model, text width 128) and the tiny golden towers
// (tests/data/multimodal/models/tiny.mmproj.f32.gguf): the expanded token layout, prefix reuse
// keyed by content, and the bad-input errors, each naming the part.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "api/chat_prepare.h"
#include "api/media_input.h"
#include "base/error.h"
#include "g4/chat.h"
#include "media/image_resize.h"
#include "media/video.h"
#include "model/gemma4_text.h"
#include "model/gemma4_vision.h"
#include "model/mmproj.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;

const std::string kData = G4_TEST_DATA_DIR;

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / ("g4_mm_chat_" + std::to_string(::getpid()) + "_" + name)).string();
}

const std::string& TinyModel() {
  static const std::string path = [] {
    const std::string vocab = G4_GEMMA4_TOKENIZER_JSON;
    if (!fs::exists(vocab)) {
      ADD_FAILURE() << vocab << " is missing: run scripts/fetch_gemma4_vocab.sh " << vocab;
      return std::string();
    }
    const std::string out = TempPath("model.gguf");
    const std::string cmd = std::string(G4_RANDOM_MODEL_BINARY) + " --config " + kData +
                            "/models/tiny-vocab-mm.q4_0.config.json --type q4_0 --seed 1234 -q --vocab " + vocab +
                            " -o " + out + " > /dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::atexit([] { fs::remove(TempPath("model.gguf")); });
    return out;
  }();
  return path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string Base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    for (int s : {18, 12, 6}) out += kAlphabet[(v >> s) & 63];
    out += "=";
  }
  return out;
}

nlohmann::json ImagePart(const std::string& url) { return {{"type", "image_url"}, {"image_url", {{"url", url}}}}; }
nlohmann::json TextPart(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

// A PNG made by FFmpeg's own encoder (a solid colour), independent of g4's decoder.
std::string MakePng(const std::string& name, const std::string& color, int width, int height) {
  const std::string path = TempPath(name);
  const std::string cmd = "ffmpeg -loglevel error -y -f lavfi -i color=c=" + color + ":s=" + std::to_string(width) + "x" +
                          std::to_string(height) + " -frames:v 1 " + path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return path;
}

std::string PngDataUrl(const std::string& path) { return "data:image/png;base64," + Base64(ReadFile(path)); }

class MultimodalChatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    LoadOptions options;
    options.mmproj_path = kData + "/multimodal/models/tiny.mmproj.f32.gguf";
    const Status s = LoadedModel::Load(TinyModel(), options, &model_);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_TRUE(LoadedModel::Load(TinyModel(), &text_only_).ok());
  }
  static void TearDownTestSuite() {
    model_.reset();
    text_only_.reset();
  }
  static ChatRequest Ask(const nlohmann::json& content) {
    ChatRequest r;
    r.messages = {{{"role", "user"}, {"content", content}}};
    r.image_tokens = 70;
    r.max_tokens = 2;
    r.sampling.seed = 1;
    return r;
  }
  static std::string ErrorOf(const LoadedModel& model, const ChatRequest& request) {
    std::unique_ptr<ChatSession> session;
    SessionConfig config;
    config.context = 1024;
    config.n_threads = 2;
    EXPECT_TRUE(ChatSession::Create(model, config, &session).ok());
    ChatResult result;
    const Status s = session->Respond(request, nullptr, &result);
    EXPECT_FALSE(s.ok());
    return s.message();
  }
  static inline std::unique_ptr<LoadedModel> model_, text_only_;
};

nlohmann::json AudioPart(const std::string& wav_path) {
  return {{"type", "input_audio"}, {"input_audio", {{"data", Base64(ReadFile(wav_path))}, {"format", "wav"}}}};
}

// The rendered prompt's tokens with each placeholder replaced by begin + n soft tokens + end;
// `blocks` lists, per placeholder in order, the soft-token count of each of its blocks.
std::vector<int32_t> ExpectedLayout(const Tokenizer& tok, const std::string& prompt,
                                    const std::vector<std::vector<int64_t>>& blocks) {
  const int32_t image = *tok.Find("<|image|>"), audio = *tok.Find("<|audio|>");
  std::vector<int32_t> out;
  size_t next = 0;
  for (int32_t id : tok.Encode(prompt)) {
    if (id != image && id != audio) {
      out.push_back(id);
      continue;
    }
    EXPECT_LT(next, blocks.size());
    for (int64_t n : blocks.at(next)) {
      out.push_back(id == image ? 255999 : 256000);  // <|image>, <|audio> (spec §2.3)
      out.insert(out.end(), n, kSoftToken);
      out.push_back(id == image ? 258882 : 258883);  // <image|>, <audio|>
    }
    ++next;
  }
  EXPECT_EQ(next, blocks.size());
  return out;
}

// Spec §4.2 table: a square image at budget 70 is resized to 384 x 384, 8 x 8 = 64 tokens;
// §5.5: one second of audio is 25 tokens.
TEST_F(MultimodalChatTest, ImageAndAudioExpandToMarkersAndSoftTokens) {
  const std::string url = PngDataUrl(kData + "/multimodal/inputs/img_768x768.png");
  const ChatRequest request = Ask({TextPart("What is this?"), ImagePart(url), TextPart("And this?"),
                                   AudioPart(kData + "/multimodal/inputs/aud_sweep_1s_16k_mono.wav")});
  const Model& m = model_->internal();
  const PreparedChat prepared = PrepareChat(m, request, {model_->towers(), 2});
  const std::vector<int32_t> expected = ExpectedLayout(m.tokenizer(), prepared.prompt, {{64}, {25}});
  EXPECT_EQ(prepared.ids, expected);
  ASSERT_EQ(prepared.soft.count(), 64 + 25);
  EXPECT_EQ(prepared.soft.width, 128);
  for (int64_t i = 0; i < prepared.soft.count(); ++i) EXPECT_EQ(prepared.soft.bidirectional[i], i < 64 ? 1 : 0) << i;

  // The whole request through a session: the prompt it reports is the expanded one.
  std::unique_ptr<ChatSession> session;
  SessionConfig config;
  config.context = 1024;
  config.n_threads = 2;
  ASSERT_TRUE(ChatSession::Create(*model_, config, &session).ok());
  ChatResult result;
  const Status s = session->Respond(request, nullptr, &result);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(result.prompt_tokens, static_cast<int>(expected.size()));
}

// A conversation's media are encoded once: the second turn takes the cached encoding; another
// budget is another encoding.
TEST_F(MultimodalChatTest, MediaCacheServesRepeatedMedia) {
  MediaCache cache;
  const MediaEncoders encoders{model_->towers(), 2, &cache};
  ChatRequest request = Ask({ImagePart(PngDataUrl(kData + "/multimodal/inputs/img_768x768.png")), TextPart("Hi")});
  const PreparedChat a = PrepareChat(model_->internal(), request, encoders);
  EXPECT_EQ(cache.hits(), 0u);
  const PreparedChat b = PrepareChat(model_->internal(), request, encoders);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.soft.rows, b.soft.rows);
  EXPECT_EQ(a.soft.keys, b.soft.keys);
  request.image_tokens = 140;
  const PreparedChat c = PrepareChat(model_->internal(), request, encoders);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_GT(c.soft.count(), a.soft.count());
}

// 31 s of audio: a 30 s chunk (750 tokens) and a 1 s chunk (25), each in its own block.
TEST_F(MultimodalChatTest, LongAudioIsSplitInto30SecondBlocks) {
  const std::string wav = TempPath("tone31.wav");
  const std::string cmd = "ffmpeg -loglevel error -y -f lavfi -i sine=frequency=440:duration=31 -ar 16000 -ac 1 " + wav;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const ChatRequest request = Ask({AudioPart(wav), TextPart("Transcribe.")});
  const PreparedChat prepared = PrepareChat(model_->internal(), request, {model_->towers(), 2});
  EXPECT_EQ(prepared.ids, ExpectedLayout(model_->internal().tokenizer(), prepared.prompt, {{750, 25}}));
  fs::remove(wav);
}

TEST_F(MultimodalChatTest, PrefixReuseIsKeyedByContent) {
  const std::string red = PngDataUrl(MakePng("red.png", "red", 96, 96));
  const std::string blue = PngDataUrl(MakePng("blue.png", "blue", 96, 96));
  std::unique_ptr<ChatSession> session;
  SessionConfig config;
  config.context = 1024;
  config.n_threads = 2;
  ASSERT_TRUE(ChatSession::Create(*model_, config, &session).ok());

  ChatRequest first = Ask({ImagePart(red), TextPart("Describe it.")});
  const PreparedChat prepared = PrepareChat(model_->internal(), first, {model_->towers(), 2});
  const int64_t first_soft = std::find(prepared.ids.begin(), prepared.ids.end(), kSoftToken) - prepared.ids.begin();
  const int64_t last_soft = prepared.ids.rend() - std::find(prepared.ids.rbegin(), prepared.ids.rend(), kSoftToken) - 1;
  ChatResult r1;
  ASSERT_TRUE(session->Respond(first, nullptr, &r1).ok());

  // The same image in a follow-up turn: its KV entries are reused.
  ChatRequest follow = first;
  follow.messages.push_back({{"role", "assistant"}, {"content", r1.content}});
  follow.messages.push_back({{"role", "user"}, {"content", "And the colour?"}});
  ChatResult r2;
  ASSERT_TRUE(session->Respond(follow, nullptr, &r2).ok());
  EXPECT_GT(r2.cached_tokens, last_soft);

  // A different image in the same place (same token layout): nothing from it is reused.
  ChatRequest other = follow;
  other.messages[0]["content"][0] = ImagePart(blue);
  ChatResult r3;
  ASSERT_TRUE(session->Respond(other, nullptr, &r3).ok());
  EXPECT_EQ(r3.prompt_tokens, r2.prompt_tokens);
  EXPECT_LE(r3.cached_tokens, first_soft);
}

TEST_F(MultimodalChatTest, ErrorsNameThePart) {
  const std::string png = ReadFile(kData + "/multimodal/inputs/img_768x768.png");
  auto expect_error = [&](const LoadedModel& model, const ChatRequest& r, const std::string& prefix,
                          const std::string& needle) {
    const std::string message = ErrorOf(model, r);
    EXPECT_EQ(message.rfind(prefix, 0), 0u) << message;
    EXPECT_NE(message.find(needle), std::string::npos) << message;
  };
  const std::string part = "messages[0].content[1]";
  expect_error(*text_only_, Ask({TextPart("x"), ImagePart("data:image/png;base64," + Base64(png))}), part,
               "this model has no vision encoder; load one with --mmproj");
  expect_error(*model_, Ask({TextPart("x"), ImagePart("data:image/png;base64,iVBO@@@@")}), part,
               "not base64: invalid character at offset 4");
  expect_error(*model_, Ask({TextPart("x"), ImagePart("data:image/png,rawtext")}), part, "not base64");
  expect_error(*model_, Ask({TextPart("x"), ImagePart("data:text/plain;base64,AAAA")}), part, "not image data");
  expect_error(*model_, Ask({TextPart("x"), ImagePart("data:image/png;base64," + Base64("not a png at all"))}), part,
               "");
  expect_error(*model_, Ask({TextPart("x"), ImagePart("data:image/png;base64,")}), part, "empty");
  expect_error(*model_, Ask({TextPart("x"), ImagePart("https://example.com/a.png")}), part, "remote URLs");
  expect_error(*text_only_, Ask({TextPart("x"), AudioPart(kData + "/multimodal/inputs/aud_sweep_1s_16k_mono.wav")}),
               part, "this model has no audio encoder");
  expect_error(*model_,
               Ask({TextPart("x"), {{"type", "input_audio"}, {"input_audio", {{"data", Base64("RIFF....WAVE")}, {"format", "wav"}}}}}),
               part, "");
  const std::string file_url = "file://" + kData + "/multimodal/inputs/img_768x768.png";
  expect_error(*model_, Ask({TextPart("x"), ImagePart(file_url)}), part, "file:// URLs are not accepted");
  expect_error(*model_,
               Ask({TextPart("x"), {{"type", "input_audio"}, {"input_audio", {{"data", "AAAA"}, {"format", "xyz"}}}}}),
               part + ".input_audio.format", "unsupported audio format 'xyz'");

  ChatRequest budget = Ask({TextPart("x"), ImagePart("data:image/png;base64," + Base64(png))});
  budget.image_tokens = 100;
  expect_error(*model_, budget, "image_tokens", "100 is not one of 70, 140, 280, 560, 1120");

  ChatRequest system;
  system.messages = {{{"role", "system"}, {"content", {TextPart("sys"), ImagePart("data:image/png;base64," + Base64(png))}}},
                     {{"role", "user"}, {"content", "hi"}}};
  expect_error(*model_, system, "messages[0].content[1]", "leading system message");

  // Allowed file:// URLs (the CLI's own files) work.
  ChatRequest file = Ask({TextPart("x"), ImagePart(file_url)});
  file.allow_file_urls = true;
  std::unique_ptr<ChatSession> session;
  SessionConfig config;
  config.context = 1024;
  ASSERT_TRUE(ChatSession::Create(*model_, config, &session).ok());
  ChatResult result;
  const Status s = session->Respond(file, nullptr, &result);
  EXPECT_TRUE(s.ok()) << s.message();
}

// A clip made here by FFmpeg: 3 s of its test pattern at 4 fps (160 x 96, lossless FFV1) with
// a 440 Hz tone at 16 kHz (FLAC), in Matroska.
std::string MakeVideo() {
  const std::string path = TempPath("clip.mkv");
  const std::string cmd =
      "ffmpeg -loglevel error -y -f lavfi -i testsrc=size=160x96:rate=4:duration=3 "
      "-f lavfi -i sine=frequency=440:sample_rate=16000:duration=3 -c:v ffv1 -c:a flac -shortest " + path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return path;
}

nlohmann::json VideoPart(const std::string& path) {
  return {{"type", "video_url"}, {"video_url", {{"url", "data:video/x-matroska;base64," + Base64(ReadFile(path))}}}};
}

// The expected expansion of one <|video|>: per frame "MM:SS " + <|image> + 60 soft + <image|>,
// joined by spaces, then (with audio) <|audio> + 75 soft + <audio|>.
//   Frames: 12 in the clip, 4 asked: Hugging Face's rule arange(0, 12, 12/4) -> 0, 3, 6, 9,
//   at 4 fps 0, 0.75, 1.5, 2.25 s -> "00:00", "00:00", "00:01", "00:02" (spec §4.6).
//   160 x 96 at the 70-token budget -> 480 x 288 (spec §4.2) -> 10 x 6 = 60 tokens.
//   3 s of audio -> 75 tokens (spec §5.5, 25 per second).
std::vector<int32_t> ExpectedVideo(const Tokenizer& tok, bool with_audio) {
  std::vector<int32_t> out;
  const char* stamps[] = {"00:00 ", " 00:00 ", " 00:01 ", " 00:02 "};
  for (const char* stamp : stamps) {
    for (int32_t id : tok.Encode(stamp)) out.push_back(id);
    out.push_back(255999);
    out.insert(out.end(), 60, kSoftToken);
    out.push_back(258882);
  }
  if (with_audio) {
    out.push_back(256000);
    out.insert(out.end(), 75, kSoftToken);
    out.push_back(258883);
  }
  return out;
}

TEST_F(MultimodalChatTest, VideoFramesStampsAndSoundtrack) {
  const std::string path = MakeVideo();
  ChatRequest request = Ask({VideoPart(path), TextPart("What happens?")});
  request.video_frames = 4;
  const Model& m = model_->internal();
  const Tokenizer& tok = m.tokenizer();
  const int32_t video = *tok.Find("<|video|>");
  const PreparedChat prepared = PrepareChat(m, request, {model_->towers(), 2});

  std::vector<int32_t> expected;
  for (int32_t id : tok.Encode(prepared.prompt)) {
    if (id != video) {
      expected.push_back(id);
      continue;
    }
    const std::vector<int32_t> clip = ExpectedVideo(tok, /*with_audio=*/true);
    expected.insert(expected.end(), clip.begin(), clip.end());
  }
  EXPECT_EQ(prepared.ids, expected);
  ASSERT_EQ(prepared.soft.count(), 4 * 60 + 75);
  for (int64_t i = 0; i < prepared.soft.count(); ++i) EXPECT_EQ(prepared.soft.bidirectional[i], i < 240 ? 1 : 0) << i;

  // Each frame's rows are the image path's embedding of the same decoded frame.
  VideoOptions options;
  options.max_frames = 4;
  options.with_audio = false;
  const std::string bytes = ReadFile(path);
  const VideoClip clip = DecodeVideo(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "clip", options);
  ASSERT_EQ(clip.frames.size(), 4u);
  Gemma4VisionEncoder vision(*model_->towers()->vision(), 2);
  for (size_t f = 0; f < clip.frames.size(); ++f) {
    const VisionEmbeddings e = vision.Encode(PrepareImageForVision(clip.frames[f].image, 70));
    ASSERT_EQ(e.n_tokens, 60);
    const std::vector<float> rows(prepared.soft.row(static_cast<int64_t>(f) * 60),
                                  prepared.soft.row(static_cast<int64_t>(f + 1) * 60));
    EXPECT_EQ(rows, e.data) << "frame " << f;
  }

  // A model with a vision tower only gets the frames.
  std::unique_ptr<LoadedModel> vision_only;
  LoadOptions load;
  load.mmproj_path = kData + "/multimodal/models/tiny-large-vision.mmproj.f32.gguf";
  ASSERT_TRUE(LoadedModel::Load(TinyModel(), load, &vision_only).ok());
  ASSERT_FALSE(vision_only->has_audio());
  const PreparedChat frames_only = PrepareChat(vision_only->internal(), request, {vision_only->towers(), 2});
  EXPECT_EQ(frames_only.soft.count(), 4 * 60);
  fs::remove(path);
}

TEST(Base64Test, DecodesAndRejects) {
  EXPECT_EQ(DecodeBase64("aGVsbG8="), std::vector<uint8_t>({'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(DecodeBase64("aGVsbG8"), std::vector<uint8_t>({'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(DecodeBase64(""), std::vector<uint8_t>());
  EXPECT_THROW(DecodeBase64("aGV sbG8="), Error);
  EXPECT_THROW(DecodeBase64("a"), Error);
  EXPECT_THROW(DecodeBase64("aG=VsbG8"), Error);
}

}  // namespace
}  // namespace g4
