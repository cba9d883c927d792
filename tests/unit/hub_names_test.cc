// Model names (aliases, hf:// references) and which repository files they select.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "g4/store.h"
#include "hub/digest.h"
#include "hub/file_selection.h"
#include "hub/model_names.h"

namespace g4::hub {
namespace {

ModelRef Parse(const std::string& name) {
  ModelRef ref;
  std::string error;
  EXPECT_TRUE(ParseModelName(name, &ref, &error)) << name << ": " << error;
  return ref;
}

std::string ParseError(const std::string& name) {
  ModelRef ref;
  std::string error;
  EXPECT_FALSE(ParseModelName(name, &ref, &error)) << name;
  return error;
}

TEST(HubNames, AliasesResolveToRepositories) {
  ModelRef e2b = Parse("gemma4:e2b");
  EXPECT_EQ(e2b.repo, "google/gemma-4-E2B-it-qat-q4_0-gguf");
  EXPECT_EQ(e2b.selector, "q4_0");
  EXPECT_EQ(e2b.name, "gemma4:e2b");
  EXPECT_TRUE(e2b.from_alias);
  // The default's explicit quant, Ollama's dash spelling and upper case name the same rows.
  EXPECT_EQ(Parse("gemma4:e2b:q4_0").repo, e2b.repo);
  EXPECT_EQ(Parse("GEMMA4:E2B").repo, e2b.repo);
  EXPECT_EQ(Parse("gemma4:e4b-q8_0").repo, "ggml-org/gemma-4-E4B-it-GGUF");
  EXPECT_EQ(Parse("gemma4:26b:q8_0").selector, "q8_0");
  ModelRef bf16 = Parse("gemma4:31b:bf16");
  EXPECT_EQ(bf16.repo, "google/gemma-4-31B-it");
  EXPECT_EQ(bf16.selector, "");
  EXPECT_EQ(bf16.Canonical(), "hf://google/gemma-4-31B-it");
  // Every size has a default and q8_0 / bf16 variants.
  for (const char* size : {"e2b", "e4b", "26b", "31b"}) {
    for (const char* suffix : {"", ":q4_k_m", ":q8_0", ":bf16"}) Parse(std::string("gemma4:") + size + suffix);
  }
  EXPECT_EQ(g4::ModelAliases().size(), ModelAliases().size());
}

TEST(HubNames, HfReferences) {
  ModelRef r = Parse("hf://ggml-org/gemma-4-E2B-it-GGUF:Q8_0");
  EXPECT_EQ(r.repo, "ggml-org/gemma-4-E2B-it-GGUF");
  EXPECT_EQ(r.selector, "q8_0");  // quants are matched case-insensitively
  EXPECT_EQ(r.Canonical(), "hf://ggml-org/gemma-4-E2B-it-GGUF:q8_0");
  EXPECT_FALSE(r.from_alias);
  EXPECT_EQ(Parse("hf://o/r:Model-Q4_0.gguf").selector, "Model-Q4_0.gguf");  // file names keep their case
  EXPECT_EQ(Parse("hf://google/gemma-4-E2B-it").selector, "");
  EXPECT_NE(ParseError("hf://just-a-repo").find("hf://OWNER/REPO"), std::string::npos);
  ParseError("hf://o/r:");
  ParseError("hf://o/r:../../etc/passwd");
  ParseError("hf://o/../x");
  EXPECT_NE(ParseError("gemma4:e3b").find("Known names: gemma4:e2b"), std::string::npos);
}

TEST(HubNames, NamesAreTellableFromPaths) {
  EXPECT_TRUE(LooksLikeModelName("gemma4:e2b"));
  EXPECT_TRUE(LooksLikeModelName("hf://a/b"));
  EXPECT_FALSE(LooksLikeModelName("/models/gemma4.gguf"));
  EXPECT_FALSE(LooksLikeModelName("model.gguf"));
}

std::vector<RemoteFile> Files(const std::vector<std::string>& names) {
  std::vector<RemoteFile> out;
  for (const std::string& n : names) out.push_back({n, 100, "", ""});
  return out;
}

std::vector<std::string> Paths(const FileSelection& s) {
  std::vector<std::string> out;
  for (const RemoteFile& f : s.files) out.push_back(f.path);
  return out;
}

TEST(HubSelection, QuantsMatchWholeTokensOfGgufNames) {
  const auto files = Files({"gemma-4-E2B-it-Q4_0.gguf", "gemma-4-E2B-it-Q4_K_M.gguf", "gemma-4-E2B-it-Q4_K_S.gguf",
                            "gemma-4-E2B-it-IQ4_XS.gguf", "gemma-4-E2B-it-Q8_0.gguf", "mmproj-gemma-4-E2B-Q8_0.gguf",
                            "README.md"});
  // Each comes with the repo's mmproj file.
  const std::string mmproj = "mmproj-gemma-4-E2B-Q8_0.gguf";
  EXPECT_EQ(Paths(SelectFiles("r", files, "q8_0")), (std::vector<std::string>{"gemma-4-E2B-it-Q8_0.gguf", mmproj}));
  EXPECT_EQ(Paths(SelectFiles("r", files, "q4_0")), (std::vector<std::string>{"gemma-4-E2B-it-Q4_0.gguf", mmproj}));
  EXPECT_EQ(Paths(SelectFiles("r", files, "q4_k_m")), (std::vector<std::string>{"gemma-4-E2B-it-Q4_K_M.gguf", mmproj}));
  EXPECT_EQ(Paths(SelectFiles("r", files, "iq4_xs")), (std::vector<std::string>{"gemma-4-E2B-it-IQ4_XS.gguf", mmproj}));
  EXPECT_EQ(SelectFiles("r", files, "q8_0").mmproj_path, mmproj);
  EXPECT_THROW(SelectFiles("r", files, "q4_k"), Error);   // not a whole token of any name
  EXPECT_THROW(SelectFiles("r", files, "q5_k_m"), Error);
  EXPECT_THROW(SelectFiles("r", files, ""), Error);       // several GGUFs: ambiguous
  const FileSelection by_name = SelectFiles("r", files, "gemma-4-E2B-it-Q4_K_S.gguf");
  EXPECT_EQ(by_name.model_path, "gemma-4-E2B-it-Q4_K_S.gguf");
  EXPECT_EQ(by_name.format, "gguf");
  // Google's QAT file name puts the quant in the middle.
  EXPECT_EQ(SelectFiles("r", Files({"gemma-4-E2B_q4_0-it.gguf", "mmproj-f16.gguf"}), "q4_0").model_path,
            "gemma-4-E2B_q4_0-it.gguf");
  EXPECT_EQ(SelectFiles("r", Files({"only.gguf", "mmproj.gguf"}), "").model_path, "only.gguf");
}

TEST(HubSelection, SplitGgufsComeTogether) {
  const auto files = Files({"m-Q8_0-00002-of-00002.gguf", "m-Q8_0-00001-of-00002.gguf", "m-Q4_0.gguf"});
  const FileSelection s = SelectFiles("r", files, "q8_0");
  EXPECT_EQ(Paths(s), (std::vector<std::string>{"m-Q8_0-00001-of-00002.gguf", "m-Q8_0-00002-of-00002.gguf"}));
  EXPECT_EQ(s.model_path, "m-Q8_0-00001-of-00002.gguf");
}

TEST(HubSelection, MmprojComesWithAGgufModel) {
  // Of several, f16 first, then bf16, f32, q8_0; only one in the model's own folder.
  auto pick = [](const std::vector<std::string>& names, const std::string& selector = "q4_0") {
    return SelectFiles("r", Files(names), selector).mmproj_path;
  };
  EXPECT_EQ(pick({"m-Q4_0.gguf", "mmproj-BF16.gguf", "mmproj-F16.gguf", "mmproj-F32.gguf"}), "mmproj-F16.gguf");
  EXPECT_EQ(pick({"m-Q4_0.gguf", "mmproj-F32.gguf", "mmproj-bf16.gguf"}), "mmproj-bf16.gguf");
  EXPECT_EQ(pick({"m-Q4_0.gguf", "mmproj-Q8_0.gguf", "mmproj-F32.gguf"}), "mmproj-F32.gguf");
  EXPECT_EQ(pick({"m-Q4_0.gguf", "mmproj-b.gguf", "mmproj-a.gguf"}), "mmproj-a.gguf");
  EXPECT_EQ(pick({"m-Q4_0.gguf", "extra/mmproj-F16.gguf"}), "");
  EXPECT_EQ(pick({"m-Q4_0.gguf"}), "");
  const FileSelection named = SelectFiles("r", Files({"m-Q4_0.gguf", "mmproj-F16.gguf"}), "m-Q4_0.gguf");
  EXPECT_EQ(Paths(named), (std::vector<std::string>{"m-Q4_0.gguf", "mmproj-F16.gguf"}));
  // A checkpoint carries its towers itself.
  EXPECT_EQ(SelectFiles("r", Files({"config.json", "model.safetensors", "mmproj-F16.gguf"}), "").mmproj_path, "");
}

TEST(HubSelection, SafetensorsCheckpointIsTheRootFolder) {
  const auto files = Files({"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                            "model.safetensors.index.json", "tokenizer.json", "chat_template.jinja", "README.md",
                            ".gitattributes", "original/params.json"});
  const FileSelection s = SelectFiles("r", files, "");
  EXPECT_EQ(s.format, "safetensors");
  EXPECT_EQ(s.model_path, "");
  EXPECT_EQ(Paths(s), (std::vector<std::string>{"config.json", "model-00001-of-00002.safetensors",
                                                "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                                                "tokenizer.json", "chat_template.jinja"}));
  EXPECT_EQ(SelectFiles("r", files, "bf16").format, "safetensors");
  EXPECT_THROW(SelectFiles("r", Files({"README.md"}), ""), Error);
  EXPECT_THROW(SelectFiles("r", Files({"model.safetensors"}), ""), Error);  // no config.json
}

TEST(HubDigest, Sha256AndGitBlobSha1) {
  Digest sha(Digest::Kind::kSha256, 3);
  sha.Update("abc", 3);
  EXPECT_EQ(sha.HexFinal(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // `git hash-object` of a file holding "hello\n".
  Digest git(Digest::Kind::kGitBlobSha1, 6);
  git.Update("hello\n", 6);
  EXPECT_EQ(git.HexFinal(), "ce013625030ba8dba906f756967f9e9ca394464a");
}

}  // namespace
}  // namespace g4::hub
