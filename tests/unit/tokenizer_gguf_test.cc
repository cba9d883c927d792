// Tokenizers from GGUF metadata: the Gemma 4 vocabulary written the way llama.cpp's converter
// writes it (and encoded the way llama.cpp encodes it), the SentencePiece-style vocabulary of the
// tiny golden models, and malformed files of both kinds.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace g4 {
namespace {

using tokenizer_test::Gemma4Gguf;
using tokenizer_test::Gemma4Json;
using tokenizer_test::GoldenCases;
using tokenizer_test::IdsToString;
using tokenizer_test::kModels;
using tokenizer_test::fs::path;

std::string TempName(const std::string& ext) {
  static std::atomic<int> counter{0};
  return (path(testing::TempDir()) /
          ("g4_tok_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ext))
      .string();
}

// Expects `fn` to throw g4::Error whose message contains `needle`.
void ExpectError(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error (expected one mentioning '" << needle << "')";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// ---- GGUF "gemma4" ------------------------------------------------------------------------------

// Texts where llama.cpp and Hugging Face differ (golden README): non-special added tokens of
// tokenizer.json are NORMAL in the GGUF, so llama.cpp runs BPE over <unusedN> and these tags.
bool HasNormalTypedAddedToken(const std::string& text) {
  for (const char* tag :
       {"<unused", "<b>", "</b>", "<tr>", "</tr>", "</td>", "<strong>", "</strong>", "</div>"}) {
    if (text.find(tag) != std::string::npos) return true;
  }
  return false;
}

TEST(TokenizerGgufGemma4, EncodesGoldenCasesLikeLlamaCpp) {
  const Tokenizer* gguf = Gemma4Gguf();
  const Tokenizer* json = Gemma4Json();
  ASSERT_NE(gguf, nullptr);
  ASSERT_NE(json, nullptr);
  ASSERT_EQ(gguf->vocab_size(), json->vocab_size());
  for (int32_t id = 0; id < gguf->vocab_size(); ++id) {
    ASSERT_EQ(gguf->Piece(id), json->Piece(id)) << id;
    ASSERT_EQ(gguf->kind(id), json->kind(id)) << id;
  }
  EXPECT_EQ(gguf->merges(), json->merges());
  int same = 0;
  for (const auto& c : GoldenCases()) {
    const std::vector<int32_t> ids = gguf->Encode(c.text);
    if (ids == c.ids) {
      ++same;
    } else {
      EXPECT_TRUE(HasNormalTypedAddedToken(c.text))
          << "unexplained difference on: " << c.text << "\n  got:      " << IdsToString(ids)
          << "\n  expected: " << IdsToString(c.ids);
    }
    // llama_detokenize(remove_special=false, unparse_special=true) equals `decoded` everywhere.
    EXPECT_EQ(gguf->Decode(c.ids), c.decoded);
    EXPECT_EQ(gguf->Decode(ids, true, false), c.text);
  }
  EXPECT_EQ(same, 1441);  // llama.cpp's count on these 1,500 cases (golden README)
}

TEST(TokenizerGgufGemma4, SpecialTokensAndNewlineRuns) {
  const Tokenizer* tok = Gemma4Gguf();
  ASSERT_NE(tok, nullptr);
  const std::string chat =
      "<bos><|turn>system\nYou are terse.<turn|>\n<|turn>user\nWhat is 2+2?<turn|>\n"
      "<|turn>model\n";
  EXPECT_EQ(IdsToString(tok->Encode(chat)),
            "[2,105,9731,107,3048,659,17514,236761,106,107,105,2364,107,3689,563,236743,236778,"
            "236862,236778,236881,106,107,105,4368,107]");
  // Without special parsing CONTROL tokens are text, USER_DEFINED ones still match.
  const std::vector<int32_t> off = tok->Encode("<|turn>x<|tool_call>", false);
  EXPECT_EQ(std::count(off.begin(), off.end(), 105), 0);
  EXPECT_EQ(off.back(), 48);
  EXPECT_EQ(tok->Decode(off), "<|turn>x<|tool_call>");
  // llama.cpp BPEs "<unused5>" (NORMAL in the GGUF) instead of matching it.
  const std::vector<int32_t> unused = tok->Encode("<unused5>");
  EXPECT_GT(unused.size(), 1u);
  EXPECT_EQ(tok->Decode(unused), "<unused5>");
  // A newline run that is a token is emitted whole; a longer one is merged from the pieces.
  EXPECT_EQ(IdsToString(tok->Encode("a\n\n\nb")),
            IdsToString({*tok->Find("a"), 109, *tok->Find("b")}));
  const std::string many(45, '\n');
  EXPECT_EQ(tok->Decode(tok->Encode(many)), many);
  EXPECT_EQ(tok->bos_id(), 2);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->unk_id(), 3);
  EXPECT_EQ(tok->pad_id(), 0);
}

TEST(TokenizerGgufGemma4, RandomTextRoundTrips) {
  const Tokenizer* tok = Gemma4Gguf();
  ASSERT_NE(tok, nullptr);
  const std::unique_ptr<Tokenizer> tiny =
      Tokenizer::FromGguf(*GgufFile::Open(kModels + "/tiny-e2b.q8_0.gguf"));
  std::mt19937 rng(11);
  for (int i = 0; i < 2000; ++i) {
    const std::string text = tokenizer_test::RandomText(rng);
    for (bool parse_special : {true, false}) {
      const std::vector<int32_t> ids = tok->Encode(text, parse_special);
      ASSERT_EQ(tok->Decode(ids, true, false), text) << IdsToString(ids);
      const std::vector<int32_t> tiny_ids = tiny->Encode(text, parse_special);
      ASSERT_EQ(tiny->Decode(tiny_ids, true, false), text) << IdsToString(tiny_ids);
    }
  }
}

TEST(TokenizerGgufGemma4, WrittenKeysFollowTheConverter) {
  const std::string& p = tokenizer_test::Gemma4GgufPath();
  ASSERT_FALSE(p.empty()) << tokenizer_test::MissingVocabMessage();
  const std::unique_ptr<GgufFile> gguf = GgufFile::Open(p);
  EXPECT_EQ(gguf->GetString("tokenizer.ggml.model"), "gemma4");
  EXPECT_EQ(gguf->Find("tokenizer.ggml.pre"), nullptr);
  const std::vector<std::string> merges = gguf->GetStringArray("tokenizer.ggml.merges");
  ASSERT_EQ(merges.size(), 514906u);
  EXPECT_EQ(merges[0], std::string(30, '\n') + " \n");
  const std::vector<double> scores = gguf->GetFloatArray("tokenizer.ggml.scores");
  EXPECT_EQ(scores.size(), 262144u);
  EXPECT_TRUE(std::all_of(scores.begin(), scores.end(), [](double s) { return s == -1000.0; }));
  EXPECT_EQ(gguf->GetUint("tokenizer.ggml.mask_token_id"), 4u);
  EXPECT_FALSE(gguf->GetBool("tokenizer.ggml.add_space_prefix"));
  EXPECT_TRUE(gguf->GetBool("tokenizer.ggml.add_bos_token"));
  const std::vector<int64_t> types = gguf->GetIntArray("tokenizer.ggml.token_type");
  EXPECT_EQ(std::count(types.begin(), types.end(), 3), 17);
  EXPECT_EQ(std::count(types.begin(), types.end(), 4), 7);
  EXPECT_EQ(std::count(types.begin(), types.end(), 6), 256);
  EXPECT_EQ(std::count(types.begin(), types.end(), 1), 261864);
}

// ---- GGUF "llama" (the tiny golden models) ------------------------------------------------------

TEST(TokenizerGgufLlama, TinyModelsRoundTripText) {
  for (const char* name : {"tiny-dense.f32.gguf", "tiny-moe.q8_0.gguf", "tiny-e2b.q4_0.gguf",
                           "tiny-e4b.f32.gguf", "tiny-all.q4_0.gguf"}) {
    const std::unique_ptr<GgufFile> gguf = GgufFile::Open(kModels + "/" + name);
    const std::unique_ptr<Tokenizer> tok = Tokenizer::FromGguf(*gguf);
    EXPECT_EQ(tok->vocab_size(), 512) << name;
    for (const std::string text :
         {"Hello, world!", " the cat sat on the mat", "héllo wörld — 你好 👋", "a\nb\tc  d",
          "<unused3> and <b>", "x"}) {
      const std::vector<int32_t> ids = tok->Encode(text);
      EXPECT_EQ(tok->Decode(ids), text) << name;
    }
  }
}

TEST(TokenizerGgufLlama, MergesByScoreAndFallsBackToBytes) {
  const std::unique_ptr<Tokenizer> tok =
      Tokenizer::FromGguf(*GgufFile::Open(kModels + "/tiny-dense.f32.gguf"));
  auto id = [&](const char* piece) { return *tok->Find(piece); };
  // The file says add_space_prefix = false, so no '▁' is added in front. Pieces only merge
  // when the pair is itself a piece: "▁th" is not one, so "▁the" cannot be reached.
  EXPECT_EQ(IdsToString(tok->Encode(" the")), IdsToString({id("\xE2\x96\x81t"), id("h"), id("e")}));
  EXPECT_EQ(IdsToString(tok->Encode(" a")), IdsToString({id("\xE2\x96\x81"
                                                            "a")}));
  EXPECT_EQ(IdsToString(tok->Encode("the")), IdsToString({id("t"), id("h"), id("e")}));
  EXPECT_EQ(IdsToString(tok->Encode(" cat")), IdsToString({id("\xE2\x96\x81"
                                                              "c"),
                                                           id("a"), id("t")}));
  // 'é' is not a piece: its UTF-8 bytes become <0xC3> <0xA9>.
  EXPECT_EQ(IdsToString(tok->Encode("é")), IdsToString({id("<0xC3>"), id("<0xA9>")}));
  EXPECT_EQ(tok->kind(id("<0xC3>")), TokenKind::kByte);
  // Control (and unknown) tokens only with special parsing.
  EXPECT_EQ(IdsToString(tok->Encode("<bos>x")), IdsToString({2, id("x")}));
  EXPECT_EQ(IdsToString(tok->Encode("<unk>")), "[3]");
  EXPECT_EQ(tok->Encode("<bos>", false).size(), 5u);
  EXPECT_EQ(tok->Decode({2, id("x")}, false), "x");
  EXPECT_EQ(tok->Decode({2, id("x")}), "<bos>x");
  EXPECT_FALSE(tok->has_space_cleanup());
  EXPECT_TRUE(tok->merges().empty());
  GgufWriter writer(TempName(".gguf"));
  ExpectError([&] { WriteGemma4VocabToGguf(*tok, writer); }, "no BPE merges");
}

// ---- malformed GGUF metadata
// ----------------------------------------------------------------------

// A GGUF holding only the given metadata.
std::unique_ptr<Tokenizer> LoadMetadata(const std::function<void(GgufWriter&)>& fill) {
  const std::string p = TempName(".gguf");
  {
    GgufWriter w(p);
    fill(w);
    w.Finish();
  }
  struct Remove {
    std::string p;
    ~Remove() {
      std::error_code ec;
      tokenizer_test::fs::remove(p, ec);
    }
  } remove{p};
  return Tokenizer::FromGguf(*GgufFile::Open(p));
}

const std::vector<std::string> kMiniTokens = {"<pad>", "<eos>", "<bos>", "a", "b", "ab", "<0x41>"};
const std::vector<int32_t> kMiniTypes = {3, 3, 3, 1, 1, 1, 6};

void MiniGemma4(GgufWriter& w, bool with_merges = true) {
  w.SetString("tokenizer.ggml.model", "gemma4");
  w.SetStringArray("tokenizer.ggml.tokens", kMiniTokens);
  w.SetInt32Array("tokenizer.ggml.token_type", kMiniTypes);
  if (with_merges) w.SetStringArray("tokenizer.ggml.merges", {"a b"});
}

TEST(TokenizerGgufErrors, MissingOrMismatchedKeys) {
  EXPECT_EQ(IdsToString(LoadMetadata([](GgufWriter& w) { MiniGemma4(w); })->Encode("abA<bos>")),
            "[5,6,2]");
  ExpectError([] { LoadMetadata([](GgufWriter& w) { w.SetString("general.name", "x"); }); },
              "tokenizer.ggml.model");
  ExpectError(
      [] { LoadMetadata([](GgufWriter& w) { w.SetString("tokenizer.ggml.model", "gpt2"); }); },
      "'gpt2' is not supported");
  ExpectError(
      [] { LoadMetadata([](GgufWriter& w) { w.SetString("tokenizer.ggml.model", "gemma4"); }); },
      "'tokenizer.ggml.tokens' is missing");
  ExpectError([] { LoadMetadata([](GgufWriter& w) { MiniGemma4(w, false); }); },
              "'tokenizer.ggml.merges' is missing");
  ExpectError(
      [] {
        LoadMetadata([](GgufWriter& w) {
          w.SetString("tokenizer.ggml.model", "gemma4");
          w.SetInt32Array("tokenizer.ggml.tokens", {1, 2});
        });
      },
      "not an array of strings");
  ExpectError(
      [] {
        LoadMetadata([](GgufWriter& w) {
          w.SetString("tokenizer.ggml.model", "llama");
          w.SetStringArray("tokenizer.ggml.tokens", kMiniTokens);
          w.SetInt32Array("tokenizer.ggml.token_type", {1, 1, 1});
        });
      },
      "'tokenizer.ggml.token_type' has 3 entries but 'tokenizer.ggml.tokens' has 7");
  ExpectError(
      [] {
        LoadMetadata([](GgufWriter& w) {
          w.SetString("tokenizer.ggml.model", "llama");
          w.SetStringArray("tokenizer.ggml.tokens", kMiniTokens);
          w.SetFloat32Array("tokenizer.ggml.scores", {0, 0});
        });
      },
      "'tokenizer.ggml.scores' has 2 entries");
}

TEST(TokenizerGgufErrors, BadValues) {
  auto with = [](std::vector<std::string> tokens, std::vector<int32_t> types,
                 std::vector<std::string> merges) {
    return [=] {
      LoadMetadata([&](GgufWriter& w) {
        w.SetString("tokenizer.ggml.model", "gemma4");
        w.SetStringArray("tokenizer.ggml.tokens", tokens);
        w.SetInt32Array("tokenizer.ggml.token_type", types);
        w.SetStringArray("tokenizer.ggml.merges", merges);
      });
    };
  };
  ExpectError(with(kMiniTokens, kMiniTypes, {"ab"}), "merges[0] 'ab' is not of the form");
  ExpectError(with(kMiniTokens, kMiniTypes, {"a b", "a c"}), "merges[1] ('a', 'c') uses a piece");
  ExpectError(with(kMiniTokens, kMiniTypes, {"b a"}), "makes 'ba', which is not in the vocabulary");
  ExpectError(with({"a", "b", "a"}, {1, 1, 1}, {}), "'a' appears twice");
  ExpectError(with({"a", "b", "<0xZZ>"}, {1, 1, 6}, {}), "token 2 is typed BYTE");
  ExpectError(with({"a", "b"}, {1, 9}, {}), "token_type[1] = 9 is not a token type");
  ExpectError(
      [] {
        LoadMetadata([](GgufWriter& w) {
          MiniGemma4(w);
          w.SetUint32("tokenizer.ggml.bos_token_id", 7);
        });
      },
      "bos_token_id' = 7 is outside the vocabulary");
}

// ---- malformed tokenizer.json -------------------------------------------------------------------

std::string WriteTemp(const std::string& content) {
  const std::string p = TempName(".json");
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

// A minimal valid tokenizer.json; `model` and `extra` are spliced in.
std::string MiniJson(
    const std::string& model_extra = "",
    const std::string& vocab = R"({"<unk>": 0, "a": 1, "b": 2, "ab": 3, "▁": 4})",
    const std::string& merges = R"([["a", "b"]])",
    const std::string& added = R"([{"id": 0, "content": "<unk>", "special": true}])",
    const std::string& normalizer =
        R"({"type": "Replace", "pattern": {"String": " "}, "content": "▁"})") {
  return R"({"version": "1.0", "added_tokens": )" + added + R"(, "normalizer": )" + normalizer +
         R"(, "pre_tokenizer": null, "decoder": null, "model": {"type": "BPE", "vocab": )" + vocab +
         R"(, "merges": )" + merges +
         R"(, "unk_token": "<unk>", "byte_fallback": false, "fuse_unk": true)" + model_extra + "}}";
}

std::unique_ptr<Tokenizer> LoadJson(const std::string& content) {
  const std::string p = WriteTemp(content);
  std::unique_ptr<Tokenizer> tok;
  try {
    tok = Tokenizer::FromHfJson(p);
  } catch (...) {
    std::error_code ec;
    tokenizer_test::fs::remove(p, ec);
    throw;
  }
  std::error_code ec;
  tokenizer_test::fs::remove(p, ec);
  return tok;
}

TEST(TokenizerJsonErrors, MinimalFileWorks) {
  const std::unique_ptr<Tokenizer> tok = LoadJson(MiniJson());
  EXPECT_EQ(IdsToString(tok->Encode("ab a")), "[3,4,1]");
  EXPECT_EQ(IdsToString(tok->Encode("xxab")), "[0,3]");  // unknown characters fuse into one <unk>
  // The older merges form, "left right" strings, means the same.
  EXPECT_EQ(IdsToString(LoadJson(MiniJson("", R"({"<unk>": 0, "a": 1, "b": 2, "ab": 3, "▁": 4})",
                                          R"(["a b"])"))
                            ->Encode("ab")),
            "[3]");
}

TEST(TokenizerJsonErrors, MalformedFiles) {
  ExpectError([] { LoadJson("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0"); },
              "byte offset");
  ExpectError([] { LoadJson("not json"); }, "byte offset");
  ExpectError([] { LoadJson("[1, 2]"); }, "not a tokenizer.json object");
  ExpectError([] { LoadJson(R"({"version": "1.0"})"); }, "model is missing");
  ExpectError([] { LoadJson(MiniJson("", R"({"a": "zero"})")); }, "model.vocab['a']");
  ExpectError([] { LoadJson(MiniJson("", R"({"a": -1})")); }, "invalid id -1");
  ExpectError([] { LoadJson(MiniJson("", R"({"<unk>": 0, "a": 1, "b": 3})", "[]")); },
              "no piece has the id 2");
  ExpectError([] { LoadJson(MiniJson("", R"({"<unk>": 0, "a": 2000000000})", "[]")); },
              "token ids are not contiguous");
  ExpectError(
      [] {
        LoadJson(MiniJson("", R"({"<unk>": 0, "a": 1, "b": 2, "ab": 3, "▁": 4})", R"([["a", "b"]])",
                          R"([{"id": 0, "content": "<unk>", "lstrip": true}])"));
      },
      "added_tokens[0].lstrip is not supported");
  ExpectError([] { LoadJson(MiniJson("", R"({"<unk>": 0, "a": 1, "b": 1})", "[]")); },
              "gives the id 1 to two pieces");
  ExpectError(
      [] {
        LoadJson(MiniJson("", R"({"<unk>": 0, "a": 1, "b": 2, "ab": 3, "▁": 4})",
                          R"([["a", "b", "c"]])"));
      },
      "model.merges[0] is not a pair");
  ExpectError(
      [] {
        LoadJson(
            MiniJson("", R"({"<unk>": 0, "a": 1, "b": 2, "ab": 3, "▁": 4})", R"([["a", "z"]])"));
      },
      "model.merges[0] ('a', 'z') uses a piece");
  ExpectError(
      [] { LoadJson(MiniJson("", R"({"<unk>": 0, "a": 1, "b": 2, "▁": 3})", R"([["a", "b"]])")); },
      "makes 'ab', which is not in the vocabulary");
  ExpectError([] { LoadJson(MiniJson(R"(, "continuing_subword_prefix": "##")")); },
              "continuing_subword_prefix");
  ExpectError(
      [] {
        LoadJson(MiniJson("", R"({"<unk>": 0, "a": 1, "b": 2, "ab": 3, "▁": 4})", R"([["a", "b"]])",
                          R"([{"id": 1, "content": "<x>", "special": true}])"));
      },
      "added token 1 '<x>' differs");
  ExpectError(
      [] {
        LoadJson(MiniJson("", R"({"<unk>": 0, "a": 1, "b": 2, "ab": 3, "▁": 4})", R"([["a", "b"]])",
                          "[]", R"({"type": "NFKC"})"));
      },
      "normalizer");
  ExpectError([] { Tokenizer::FromHfJson("/nonexistent/tokenizer.json"); }, "cannot open");
}

TEST(TokenizerJsonErrors, TruncatedRealVocabulary) {
  ASSERT_TRUE(tokenizer_test::fs::exists(tokenizer_test::kVocabJson))
      << tokenizer_test::MissingVocabMessage();
  std::ifstream in(tokenizer_test::kVocabJson, std::ios::binary);
  std::string head(2'000'000, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  ExpectError([&] { LoadJson(head); }, "byte offset");
}

}  // namespace
}  // namespace g4
