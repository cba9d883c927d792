// The generation loop and the chat API on a tiny random model that carries the real Gemma 4
// vocabulary (made here with g4-random-model from the fetched tokenizer.json).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/generator.h"
#include "g4/chat.h"
#include "model/model.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;

const std::string& TinyVocabModel() {
  static const std::string path = [] {
    const std::string vocab = G4_GEMMA4_TOKENIZER_JSON;
    if (!fs::exists(vocab)) {
      ADD_FAILURE() << vocab << " is missing: run scripts/fetch_gemma4_vocab.sh " << vocab;
      return std::string();
    }
    const std::string out = (fs::temp_directory_path() / ("g4_generate_test_" + std::to_string(::getpid()) + ".gguf")).string();
    const std::string cmd = std::string(G4_RANDOM_MODEL_BINARY) + " --config " + G4_TEST_DATA_DIR +
                            "/models/tiny-vocab.q4_0.config.json --type q4_0 --seed 1234 -q --vocab " + vocab + " -o " +
                            out + " > /dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::atexit([] { fs::remove(fs::temp_directory_path() / ("g4_generate_test_" + std::to_string(::getpid()) + ".gguf")); });
    return out;
  }();
  return path;
}

class GenerateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(LoadedModel::Load(TinyVocabModel(), &model_).ok());
  }
  static void TearDownTestSuite() { model_.reset(); }

  std::unique_ptr<ChatSession> NewSession() {
    std::unique_ptr<ChatSession> s;
    SessionConfig config;
    config.context = 512;
    EXPECT_TRUE(ChatSession::Create(*model_, config, &s).ok());
    return s;
  }
  static ChatRequest Ask(const std::string& text, uint64_t seed, int max_tokens) {
    ChatRequest r;
    r.messages = {{{"role", "user"}, {"content", text}}};
    r.sampling.seed = seed;
    r.max_tokens = max_tokens;
    return r;
  }
  static inline std::unique_ptr<LoadedModel> model_;
};

TEST_F(GenerateTest, SameSeedSameAnswer) {
  auto s = NewSession();
  ChatResult a, b, c;
  ASSERT_TRUE(s->Respond(Ask("Hello", 42, 16), {}, &a).ok());
  s->Reset();
  ASSERT_TRUE(s->Respond(Ask("Hello", 42, 16), {}, &b).ok());
  ASSERT_TRUE(s->Respond(Ask("Hello", 43, 16), {}, &c).ok());
  EXPECT_EQ(a.content, b.content);
  EXPECT_EQ(a.completion_tokens, b.completion_tokens);
  EXPECT_NE(a.content + a.reasoning, c.content + c.reasoning);
}

TEST_F(GenerateTest, MaxTokensEndsWithLength) {
  auto s = NewSession();
  ChatResult r;
  ASSERT_TRUE(s->Respond(Ask("Count", 1, 5), {}, &r).ok());
  EXPECT_EQ(r.completion_tokens, 5);
  EXPECT_EQ(r.finish_reason, "length");
}

TEST_F(GenerateTest, StopStringCutsTheAnswer) {
  auto s = NewSession();
  ChatResult full;
  ASSERT_TRUE(s->Respond(Ask("Talk", 5, 24), {}, &full).ok());
  ASSERT_GE(full.content.size(), 12u) << full.content;
  const std::string stop = full.content.substr(8, 3);
  ChatRequest req = Ask("Talk", 5, 24);
  req.stop = {stop};
  ChatResult cut;
  ASSERT_TRUE(s->Respond(req, {}, &cut).ok());
  EXPECT_EQ(cut.finish_reason, "stop");
  EXPECT_EQ(cut.content.find(stop), std::string::npos) << cut.content;
  EXPECT_EQ(full.content.compare(0, cut.content.size(), cut.content), 0) << cut.content << " | " << full.content;
}

// A prompt that extends the tokens already evaluated only evaluates the new ones, and gives the
// same answer as evaluating everything afresh.
TEST_F(GenerateTest, ExtendedPromptReusesTheCache) {
  std::unique_ptr<Model> model = Model::Load(TinyVocabModel());
  SessionOptions options;
  options.max_context = 256;
  Generator gen(*model, model->tokenizer(), options);
  const std::vector<int32_t> a = model->tokenizer().Encode("<bos><|turn>user\nFirst part", true);
  std::vector<int32_t> ab = a;
  for (int32_t id : model->tokenizer().Encode(" and the second part<turn|>\n<|turn>model\n", true)) ab.push_back(id);
  GenerateOptions go;
  go.sampling.seed = 11;
  go.max_tokens = 0;  // evaluate the prompt only
  GenerateResult r1 = gen.Generate(a, go, {});
  EXPECT_EQ(r1.prompt_tokens, static_cast<int>(a.size()));
  go.max_tokens = 8;
  GenerateResult r2 = gen.Generate(ab, go, {});
  EXPECT_EQ(r2.reused_tokens, static_cast<int>(a.size()));
  EXPECT_EQ(r2.prompt_tokens, static_cast<int>(ab.size() - a.size()));
  gen.Reset();
  GenerateResult fresh = gen.Generate(ab, go, {});
  EXPECT_EQ(fresh.reused_tokens, 0);
  EXPECT_EQ(fresh.tokens, r2.tokens);
}

// A second conversation with the same system prompt restarts from the checkpoint taken at the
// end of the system turn, even though the first one went on far past the sliding window, and
// answers exactly as a fresh sequence does.
TEST_F(GenerateTest, SharedSystemPromptRewindsToACheckpoint) {
  std::unique_ptr<Model> model = Model::Load(TinyVocabModel());
  int window = 0;
  for (const LayerSpec& spec : model->config().layers) window = std::max(window, spec.window);
  ASSERT_GT(window, 0) << "the test needs a model with sliding-window layers";
  SessionOptions options;
  options.max_context = 512;
  Generator gen(*model, model->tokenizer(), options);
  const Tokenizer& tok = model->tokenizer();
  const std::vector<int32_t> system = tok.Encode("<bos><|turn>system\nYou are a terse assistant who answers in French.<turn|>\n", true);
  auto conversation = [&](const std::string& user) {
    std::vector<int32_t> ids = system;
    for (int32_t id : tok.Encode("<|turn>user\n" + user + "<turn|>\n<|turn>model\n", true)) ids.push_back(id);
    return ids;
  };
  GenerateOptions go;
  go.sampling.temperature = 0;
  go.max_tokens = 2 * window;
  const std::vector<int32_t> first = conversation("Tell me a long story about the sea and the wind, please.");
  GenerateResult r1 = gen.Generate(first, go, {});
  ASSERT_GT(first.size() - system.size() + r1.tokens.size(), static_cast<size_t>(window));
  const std::vector<int32_t> second = conversation("What is two plus two?");
  GenerateResult r2 = gen.Generate(second, go, {});
  EXPECT_EQ(r2.reused_tokens, static_cast<int>(system.size()));
  EXPECT_EQ(r2.prompt_tokens, static_cast<int>(second.size() - system.size()));
  gen.Reset();
  GenerateResult fresh = gen.Generate(second, go, {});
  EXPECT_EQ(fresh.reused_tokens, 0);
  EXPECT_EQ(fresh.tokens, r2.tokens);
}

TEST_F(GenerateTest, CallbackCanCancel) {
  auto s = NewSession();
  int events = 0;
  ChatResult r;
  ASSERT_TRUE(s->Respond(Ask("Go", 9, 50), [&](const ChatEvent&) { return ++events < 2; }, &r).ok());
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_LT(r.completion_tokens, 50);
}

TEST_F(GenerateTest, StopAndForbiddenTokensComeFromTheVocabulary) {
  std::unique_ptr<Model> model = Model::Load(TinyVocabModel());
  SessionOptions options;
  options.max_context = 64;
  Generator gen(*model, model->tokenizer(), options);
  std::vector<int32_t> stops = gen.stop_tokens();
  std::sort(stops.begin(), stops.end());
  EXPECT_EQ(stops, (std::vector<int32_t>{1, 50, 106}));
  std::vector<int32_t> forbidden = gen.forbidden_tokens();
  std::sort(forbidden.begin(), forbidden.end());
  EXPECT_EQ(forbidden, (std::vector<int32_t>{255999, 256000, 258880, 258881, 258882, 258883, 258884}));
}

TEST_F(GenerateTest, JsonSchemaAnswerParses) {
  auto s = NewSession();
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    ChatRequest req = Ask("Give a person", seed, 48);
    req.json_schema = {{"type", "object"},
                       {"properties", {{"name", {{"type", "string"}, {"maxLength", 8}}}, {"age", {{"type", "integer"}}}}},
                       {"required", {"name", "age"}},
                       {"additionalProperties", false}};
    ChatResult r;
    ASSERT_TRUE(s->Respond(req, {}, &r).ok());
    EXPECT_EQ(r.finish_reason, "stop") << r.content;
    nlohmann::json doc = nlohmann::json::parse(r.content, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << r.content;
    EXPECT_TRUE(doc["name"].is_string()) << r.content;
    EXPECT_TRUE(doc["age"].is_number_integer()) << r.content;
  }
}

TEST_F(GenerateTest, BadRequestsAreErrors) {
  auto s = NewSession();
  ChatResult r;
  ChatRequest req = Ask("x", 1, 4);
  req.messages = {{{"role", "wizard"}, {"content", "hi"}}};
  Status st = s->Respond(req, {}, &r);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("messages[0]"), std::string::npos) << st.message();
  req = Ask("x", 1, 4);
  req.json_schema = {{"type", "banana"}};
  st = s->Respond(req, {}, &r);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("banana"), std::string::npos) << st.message();
  req = Ask(std::string("bad \xff utf-8"), 1, 4);
  st = s->Respond(req, {}, &r);
  EXPECT_FALSE(st.ok());
}

}  // namespace
}  // namespace g4
