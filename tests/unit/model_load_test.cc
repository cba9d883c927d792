// Loading whole models: what reaches the user when a model file or config is wrong, and the
// session's checks on token ids and context size.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "g4/engine.h"

namespace g4 {
namespace {

namespace fs = std::filesystem;
const std::string kData = G4_TEST_DATA_DIR;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("g4_model_load_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

Status TryLoad(const std::string& path) {
  std::unique_ptr<LoadedModel> model;
  return LoadedModel::Load(path, &model);
}

TEST(ModelLoad, EveryGoldenModelLoads) {
  for (const char* preset : {"tiny-dense", "tiny-moe", "tiny-e2b", "tiny-e4b", "tiny-all"}) {
    for (const char* type : {".f32.gguf", ".q8_0.gguf", ".q4_0.gguf", "-hf"}) {
      const std::string path = kData + "/models/" + preset + type;
      Status st = TryLoad(path);
      EXPECT_TRUE(st.ok()) << path << ": " << st.message();
    }
  }
}

TEST(ModelLoad, SummaryReflectsTheFile) {
  std::unique_ptr<LoadedModel> model;
  ASSERT_TRUE(LoadedModel::Load(kData + "/models/tiny-all.q4_0.gguf", &model).ok());
  const ModelSummary s = model->Summary();
  EXPECT_EQ(s.n_layers, 10);
  EXPECT_EQ(s.d_model, 64);
  EXPECT_EQ(s.vocab_size, 512);
  EXPECT_EQ(s.variant, "custom");
  EXPECT_EQ(s.n_experts, 4);
  EXPECT_EQ(s.ple_dim, 16);
  EXPECT_EQ(s.first_kv_shared_layer, 5);
  ASSERT_EQ(s.layers.size(), 10u);
  EXPECT_EQ(s.layers[4].attention, "full");
  EXPECT_TRUE(s.layers[4].keys_as_values);  // no attn_v on full layers
  EXPECT_FALSE(s.layers[0].keys_as_values);
  EXPECT_EQ(s.layers[9].kv_source, 4);
  EXPECT_EQ(s.layers[8].kv_source, 3);
  EXPECT_EQ(s.layers[9].ff_dim, 256);
  EXPECT_EQ(s.layers[4].rope_pairs, 8);
  EXPECT_EQ(s.layers[0].rope_pairs, 16);
  EXPECT_TRUE(s.tensor_types.count("q4_0"));
  EXPECT_TRUE(s.tensor_types.count("f32"));
  // Parameter count = every tensor's elements.
  int64_t elements = 0;
  for (const auto& [name, tc] : s.tensor_types) elements += tc.elements;
  EXPECT_EQ(s.text_parameters, elements);
}

TEST(ModelLoad, HfAndGgufDescribeTheSameModel) {
  for (const char* preset : {"tiny-dense", "tiny-moe", "tiny-e2b", "tiny-e4b", "tiny-all"}) {
    std::unique_ptr<LoadedModel> gguf, hf;
    ASSERT_TRUE(LoadedModel::Load(kData + "/models/" + preset + ".q8_0.gguf", &gguf).ok());
    ASSERT_TRUE(LoadedModel::Load(kData + "/models/" + preset + "-hf", &hf).ok());
    const ModelSummary a = gguf->Summary(), b = hf->Summary();
    ASSERT_EQ(a.layers.size(), b.layers.size()) << preset;
    for (size_t i = 0; i < a.layers.size(); ++i) {
      EXPECT_EQ(a.layers[i].attention, b.layers[i].attention) << preset << " layer " << i;
      EXPECT_EQ(a.layers[i].head_dim, b.layers[i].head_dim) << preset << " layer " << i;
      EXPECT_EQ(a.layers[i].n_kv_heads, b.layers[i].n_kv_heads) << preset << " layer " << i;
      EXPECT_EQ(a.layers[i].kv_source, b.layers[i].kv_source) << preset << " layer " << i;
      EXPECT_EQ(a.layers[i].ff_dim, b.layers[i].ff_dim) << preset << " layer " << i;
      EXPECT_EQ(a.layers[i].rope_pairs, b.layers[i].rope_pairs) << preset << " layer " << i;
      if (a.layers[i].owns_kv) {
        EXPECT_EQ(a.layers[i].keys_as_values, b.layers[i].keys_as_values) << preset << i;
      }
    }
    EXPECT_EQ(a.final_softcap, b.final_softcap);
    EXPECT_EQ(a.vocab_size, b.vocab_size);
  }
}

TEST(ModelLoad, MissingTensorIsNamed) {
  TempDir dir;
  std::string bytes = ReadAll(kData + "/models/tiny-dense.q8_0.gguf");
  const std::string name = "blk.3.attn_q.weight";
  const size_t at = bytes.find(name);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 11] = 'x';  // blk.3.attn_x.weight
  WriteAll(dir / "m.gguf", bytes);
  Status st = TryLoad(dir / "m.gguf");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("m.gguf"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'blk.3.attn_q.weight' is missing"), std::string::npos) << st.message();
}

TEST(ModelLoad, WrongArchitectureIsRejected) {
  TempDir dir;
  std::string bytes = ReadAll(kData + "/models/tiny-dense.q8_0.gguf");
  const size_t at = bytes.find("gemma4");  // the value of general.architecture comes first
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 6, "llama4");
  WriteAll(dir / "m.gguf", bytes);
  Status st = TryLoad(dir / "m.gguf");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("llama4"), std::string::npos) << st.message();
}

TEST(ModelLoad, NotAGgufFile) {
  TempDir dir;
  WriteAll(dir / "x.gguf", "this is not a model");
  Status st = TryLoad(dir / "x.gguf");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not a GGUF file"), std::string::npos) << st.message();
  st = TryLoad(dir / "absent.gguf");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("absent.gguf"), std::string::npos) << st.message();
}

// Copies an HF folder, applies `edit` to its config.json and tries to load it.
Status LoadEditedHf(const std::string& preset, const std::function<void(nlohmann::json&)>& edit, TempDir& dir) {
  const std::string src = kData + "/models/" + preset + "-hf";
  for (const auto& entry : fs::directory_iterator(src)) fs::copy(entry.path(), dir.path() / entry.path().filename());
  fs::permissions(dir / "config.json", fs::perms::owner_write, fs::perm_options::add);
  nlohmann::json config = nlohmann::json::parse(ReadAll(dir / "config.json"));
  edit(config);
  WriteAll(dir / "config.json", config.dump(1));
  return TryLoad(dir.path().string());
}

TEST(ModelLoad, MisshapenTensorNamesTensorAndShapes) {
  TempDir dir;
  Status st = LoadEditedHf("tiny-dense", [](nlohmann::json& c) { c["text_config"]["intermediate_size"] = 100; }, dir);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("model.language_model.layers.0.mlp.gate_proj.weight"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("expected [128, 100]"), std::string::npos) << st.message();
}

TEST(ModelLoad, WrongConfigFieldsAreNamed) {
  {
    TempDir dir;
    Status st = LoadEditedHf("tiny-e2b", [](nlohmann::json& c) { c["text_config"].erase("hidden_size"); }, dir);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("'hidden_size' is missing"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("config.json"), std::string::npos) << st.message();
  }
  {
    TempDir dir;
    Status st = LoadEditedHf("tiny-e2b", [](nlohmann::json& c) { c["text_config"]["model_type"] = "llama"; }, dir);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("llama"), std::string::npos) << st.message();
  }
  {
    TempDir dir;
    Status st = LoadEditedHf("tiny-e2b", [](nlohmann::json& c) { c["text_config"]["num_hidden_layers"] = "ten"; }, dir);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("num_hidden_layers"), std::string::npos) << st.message();
  }
  {
    TempDir dir;
    Status st = LoadEditedHf("tiny-e2b", [](nlohmann::json& c) { c["text_config"]["vocab_size"] = 1000; }, dir);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("embed_tokens"), std::string::npos) << st.message();
  }
}

TEST(ModelLoad, TextOnlyCausalLmConfigLoads) {
  TempDir dir;
  Status st = LoadEditedHf("tiny-moe", [](nlohmann::json& c) {
    nlohmann::json text = c["text_config"];
    text["architectures"] = {"Gemma4ForCausalLM"};
    c = text;
  }, dir);
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST(Session, RejectsTokenIdsOutsideTheVocabulary) {
  std::unique_ptr<LoadedModel> model;
  ASSERT_TRUE(LoadedModel::Load(kData + "/models/tiny-dense.q4_0.gguf", &model).ok());
  std::unique_ptr<Session> session;
  ASSERT_TRUE(Session::Create(*model, {}, &session).ok());
  std::vector<float> logits;
  Status st = session->Eval({2, 17, 512}, false, &logits);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("token id 512 at index 2"), std::string::npos) << st.message();
  st = session->Eval({-1}, false, &logits);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(session->n_past(), 0);  // nothing was evaluated
  EXPECT_TRUE(session->Eval({2, 17}, false, &logits).ok());
  EXPECT_EQ(logits.size(), 512u);
}

TEST(Session, RejectsSequencesLongerThanTheContext) {
  std::unique_ptr<LoadedModel> model;
  ASSERT_TRUE(LoadedModel::Load(kData + "/models/tiny-dense.q4_0.gguf", &model).ok());
  SessionConfig config;
  config.context = 4;
  std::unique_ptr<Session> session;
  ASSERT_TRUE(Session::Create(*model, config, &session).ok());
  std::vector<float> logits;
  EXPECT_TRUE(session->Eval({2, 5, 6}, false, &logits).ok());
  Status st = session->Eval({7, 8}, false, &logits);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("context size 4"), std::string::npos) << st.message();
  session->Reset();
  EXPECT_EQ(session->n_past(), 0);
  EXPECT_TRUE(session->Eval({2, 5, 6, 7}, false, &logits).ok());
}

TEST(Session, ResetGivesTheSameLogitsAgain) {
  std::unique_ptr<LoadedModel> model;
  ASSERT_TRUE(LoadedModel::Load(kData + "/models/tiny-all.q8_0.gguf", &model).ok());
  std::unique_ptr<Session> session;
  ASSERT_TRUE(Session::Create(*model, {}, &session).ok());
  std::vector<float> first, second;
  ASSERT_TRUE(session->Eval({2, 100, 200, 300, 400, 10, 20, 30, 40, 50}, false, &first).ok());
  session->Reset();
  ASSERT_TRUE(session->Eval({2, 100, 200, 300, 400, 10, 20, 30, 40, 50}, false, &second).ok());
  EXPECT_EQ(first, second);
}

}  // namespace
}  // namespace g4
