// The Gemma 4 tokenizer from tokenizer.json against the golden cases (Hugging Face semantics),
// decoding and streaming, special tokens and bad input.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer_test_util.h"

namespace g4 {
namespace {

using tokenizer_test::Gemma4Json;
using tokenizer_test::GoldenCases;
using tokenizer_test::IdsToString;
using tokenizer_test::OllamaCases;

bool IsValidUtf8(const std::string& s) {
  return tokenizer_internal::FindInvalidUtf8(s) == std::string::npos;
}

TEST(TokenizerGemma4Json, MatchesAllOllamaCases) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  ASSERT_EQ(OllamaCases().size(), 28u);
  for (const auto& c : OllamaCases()) {
    EXPECT_EQ(IdsToString(tok->Encode(c.text)), IdsToString(c.ids)) << "text: " << c.text;
  }
}

TEST(TokenizerGemma4Json, MatchesAllGoldenCases) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  ASSERT_EQ(GoldenCases().size(), 1500u);
  int wrong_ids = 0, wrong_text = 0;
  for (size_t i = 0; i < GoldenCases().size(); ++i) {
    const auto& c = GoldenCases()[i];
    const std::vector<int32_t> ids = tok->Encode(c.text);
    if (ids != c.ids && ++wrong_ids <= 5) {
      ADD_FAILURE() << "case " << i << " text: " << c.text << "\n  got:      " << IdsToString(ids)
                    << "\n  expected: " << IdsToString(c.ids);
    }
    const std::string decoded = tok->Decode(c.ids);
    if (decoded != c.decoded && ++wrong_text <= 5) {
      ADD_FAILURE() << "case " << i << " decode: '" << decoded << "' expected '" << c.decoded
                    << "'";
    }
  }
  EXPECT_EQ(wrong_ids, 0);
  EXPECT_EQ(wrong_text, 0);
}

// Without the space clean-up the pieces give back the text byte for byte (golden README).
TEST(TokenizerGemma4Json, ExactDecodeReproducesEveryText) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  int cleaned = 0;
  for (const auto& c : GoldenCases()) {
    EXPECT_EQ(tok->Decode(c.ids, true, false), c.text);
    cleaned += c.decoded != c.text;
  }
  EXPECT_EQ(cleaned, 32);  // of the golden README's 57 over 3,000 cases, 32 are public
}

TEST(TokenizerGemma4Json, RandomTextRoundTrips) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const std::string text = tokenizer_test::RandomText(rng);
    for (bool parse_special : {true, false}) {
      const std::vector<int32_t> ids = tok->Encode(text, parse_special);
      ASSERT_EQ(tok->Decode(ids, true, false), text) << IdsToString(ids);
    }
  }
}

// The normalizer turns ' ' into '▁', so a '▁' in the text comes back as a space (Hugging Face
// and llama.cpp behave the same).
TEST(TokenizerGemma4Json, SpaceMarkInTextDecodesAsSpace) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Encode("a\xE2\x96\x81" "b"), tok->Encode("a b"));
}

TEST(TokenizerGemma4Json, ChatSequence) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  const std::string chat =
      "<bos><|turn>system\nYou are terse.<turn|>\n<|turn>user\nWhat is 2+2?<turn|>\n"
      "<|turn>model\n";
  const std::vector<int32_t> expected = {
      2,    105, 9731,   107,    3048,   659,    17514,  236761, 106, 107, 105,  2364, 107,
      3689, 563, 236743, 236778, 236862, 236778, 236881, 106,    107, 105, 4368, 107};
  EXPECT_EQ(IdsToString(tok->Encode(chat)), IdsToString(expected));
  EXPECT_EQ(tok->Decode(expected), chat);
}

TEST(TokenizerGemma4Json, SpecialTokenIdsAndTypes) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 262144);
  EXPECT_EQ(tok->merges().size(), 514906u);
  EXPECT_EQ(tok->bos_id(), 2);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->unk_id(), 3);
  const std::map<std::string, int32_t> named = {
      {"<|tool>", 46},       {"<tool|>", 47},          {"<|tool_call>", 48},
      {"<tool_call|>", 49},  {"<|tool_response>", 50}, {"<tool_response|>", 51},
      {"<|\"|>", 52},        {"<|think|>", 98},        {"<|channel>", 100},
      {"<channel|>", 101},   {"<|turn>", 105},         {"<turn|>", 106},
      {"\n", 107},           {"<|image>", 255999},     {"<|audio>", 256000},
      {"<|image|>", 258880}, {"<|audio|>", 258881},    {"<image|>", 258882},
      {"<audio|>", 258883},  {"<|video|>", 258884},
  };
  for (const auto& [piece, id] : named) {
    EXPECT_EQ(tok->Find(piece), id) << piece;
    EXPECT_EQ(tok->Piece(id), piece);
  }
  EXPECT_FALSE(tok->Find("<start_of_turn>").has_value());
  EXPECT_FALSE(tok->Find("<image_soft_token>").has_value());
  // The token types llama.cpp's converter gives this vocabulary (golden tiny-vocab config).
  std::map<TokenKind, std::vector<int32_t>> by_kind;
  for (int32_t id = 0; id < tok->vocab_size(); ++id) by_kind[tok->kind(id)].push_back(id);
  EXPECT_EQ(IdsToString(by_kind[TokenKind::kControl]),
            "[0,1,2,3,4,46,47,98,105,106,255999,256000,258880,258881,258882,258883,258884]");
  EXPECT_EQ(IdsToString(by_kind[TokenKind::kUserDefined]), "[48,49,50,51,52,100,101]");
  ASSERT_EQ(by_kind[TokenKind::kByte].size(), 256u);
  EXPECT_EQ(by_kind[TokenKind::kByte].front(), 238);
  EXPECT_EQ(by_kind[TokenKind::kByte].back(), 493);
  EXPECT_EQ(by_kind[TokenKind::kNormal].size(), 261864u);
  EXPECT_EQ(tok->TokenBytes(238 + 0x0A), "\n");
  EXPECT_EQ(tok->TokenBytes(*tok->Find("\xE2\x96\x81\xE2\x96\x81")), "  ");
  EXPECT_EQ(tok->TokenBytes(105), "<|turn>");
}

TEST(TokenizerGemma4Json, ParseSpecialOffKeepsPlainAddedTokens) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  const std::vector<int32_t> on = tok->Encode("<|turn>user\n<unused5>\t\t");
  EXPECT_EQ(on.front(), 105);
  const std::vector<int32_t> off = tok->Encode("<|turn>user\n<unused5>\t\t", false);
  EXPECT_EQ(std::count(off.begin(), off.end(), 105), 0);
  EXPECT_EQ(tok->Decode(off), "<|turn>user\n<unused5>\t\t");
  // Special ones become text; non-special added tokens ("\n", <unused5>, tabs) still match.
  EXPECT_EQ(std::count(off.begin(), off.end(), 107), 1);
  EXPECT_EQ(std::count(off.begin(), off.end(), *tok->Find("<unused5>")), 1);
  EXPECT_EQ(off.back(), *tok->Find("\t\t"));
}

TEST(TokenizerGemma4Json, LongestAddedTokenWins) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  // 31 newlines are one added token (id 137); 40 are 31 + 9.
  EXPECT_EQ(IdsToString(tok->Encode(std::string(31, '\n'))), "[137]");
  EXPECT_EQ(IdsToString(tok->Encode(std::string(40, '\n'))), "[137,115]");
  EXPECT_EQ(IdsToString(tok->Encode("<|image|><|image>")), "[258880,255999]");
  EXPECT_TRUE(tok->Encode("").empty());
}

TEST(TokenizerGemma4Json, DecodeSkipsControlButKeepsParserTokens) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  const std::vector<int32_t> ids = tok->Encode(
      "<bos><|turn>model\n<|channel>thought\n<channel|><|tool_call>x<tool_call|><turn|>");
  EXPECT_EQ(tok->Decode(ids, false),
            "model\n<|channel>thought\n<channel|><|tool_call>x<tool_call|>");
  EXPECT_THROW(tok->Decode({1, 262144}), Error);
  EXPECT_THROW(tok->Decode({-1}), Error);
}

TEST(TokenizerGemma4Json, SpaceCleanUp) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  const std::string text = "Hi , there . It 's a ' test ' isn 't it ?";
  const std::vector<int32_t> ids = tok->Encode(text);
  EXPECT_EQ(tok->Decode(ids, true, false), text);
  EXPECT_EQ(tok->Decode(ids), "Hi, there. It's a'test'isn 't it?");
}

TEST(TokenizerGemma4Json, ByteFallbackForUnknownCharacters) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  // U+06A7 'ڧ' is not in the vocabulary: its two UTF-8 bytes become byte tokens.
  const std::vector<int32_t> ids = tok->Encode("\xDA\xA7");
  EXPECT_EQ(IdsToString(ids), IdsToString({238 + 0xDA, 238 + 0xA7}));
  EXPECT_EQ(tok->Decode(ids), "\xDA\xA7");
}

TEST(TokenizerGemma4Json, InvalidUtf8NamesTheByteOffset) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  const std::pair<std::string, size_t> bad[] = {
      {std::string("ab\xFF"
                   "cd"),
       2},
      {std::string("hello \xC3"), 6},        // truncated at the end
      {std::string("x\xE0\x80\x80"), 1},     // overlong
      {std::string("xy\xED\xA0\x80"), 2},    // surrogate
      {std::string("\xF4\x90\x80\x80"), 0},  // above U+10FFFF
      {std::string("ok <|turn> \x80"), 11},  // lone continuation byte
  };
  for (const auto& [text, offset] : bad) {
    try {
      tok->Encode(text);
      ADD_FAILURE() << "no error for offset " << offset;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("byte offset " + std::to_string(offset)),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(TokenizerGemma4Json, StreamDecoderNeverSplitsCharacters) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  // Characters made of byte tokens, pushed one token at a time.
  const std::string text =
      "a\xDA\xA7"
      "b \xF0\x9F\x9C\x89 \xE7\xB7\xB5 end";
  const std::vector<int32_t> ids = tok->Encode(text);
  int byte_tokens = 0;
  for (int32_t id : ids) byte_tokens += tok->kind(id) == TokenKind::kByte;
  ASSERT_GE(byte_tokens, 3);
  StreamDecoder stream(*tok);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = stream.Push(id);
    EXPECT_TRUE(IsValidUtf8(piece)) << "piece splits a character";
    out += piece;
  }
  out += stream.Flush();
  EXPECT_EQ(out, text);

  // Every golden case streamed gives the exact text.
  for (const auto& c : GoldenCases()) {
    StreamDecoder s(*tok);
    std::string o;
    for (int32_t id : c.ids) o += s.Push(id);
    o += s.Flush();
    ASSERT_EQ(o, c.text);
  }
}

TEST(TokenizerGemma4Json, StreamDecoderReplacesBrokenBytes) {
  const Tokenizer* tok = Gemma4Json();
  ASSERT_NE(tok, nullptr);
  StreamDecoder stream(*tok);
  EXPECT_EQ(stream.Push(238 + 0xE7), "");  // first byte of a 3-byte character: held back
  EXPECT_EQ(stream.Push(238 + 0xB7), "");
  EXPECT_EQ(stream.Push(*tok->Find("a")),
            "\xEF\xBF\xBD"
            "a");  // cannot complete any more
  EXPECT_EQ(stream.Push(238 + 0xF0), "");
  EXPECT_EQ(stream.Flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(tok->Decode({238 + 0xE7, 238 + 0xB7, 238 + 0x41}),
            "\xEF\xBF\xBD"
            "A");
  StreamDecoder no_special(*tok, false);
  EXPECT_EQ(no_special.Push(2), "");
  EXPECT_EQ(no_special.Push(48), "<|tool_call>");
  EXPECT_THROW(no_special.Push(300000), Error);
}

TEST(TokenizerGemma4Json, LoadFindsTokenizerJsonInAFolder) {
  ASSERT_TRUE(tokenizer_test::fs::exists(tokenizer_test::kVocabJson))
      << tokenizer_test::MissingVocabMessage();
  const std::string dir = tokenizer_test::fs::path(tokenizer_test::kVocabJson).parent_path();
  const std::unique_ptr<Tokenizer> tok = Tokenizer::Load(dir);
  EXPECT_EQ(IdsToString(tok->Encode("hello world")), "[23391,1902]");
  EXPECT_THROW(Tokenizer::Load(tokenizer_test::kModels), Error);  // no tokenizer.json there
  EXPECT_THROW(Tokenizer::Load("/nonexistent/tokenizer.json"), Error);
}

}  // namespace
}  // namespace g4
