// Streaming parser for Gemma 4 model output (spec/gemma4-io.md §3.2, §3.3, §3.7).
//
// Input: the decoded text of the generated tokens with special tokens kept literally
// ("<|channel>", "thought\n", "<channel|>", "<|tool_call>", "call:get_weather{", "<|\"|>", ...),
// fed in any split — token by token, byte by byte (partial UTF-8 included) or all at once.
// Output: events for a streaming API (reasoning and content deltas, tool calls with their
// arguments as OpenAI-style JSON text, errors, end of turn) and the accumulated result.
//
// Guarantee: the final result() is identical however the same text was split. Markers that may
// still be completing (a partial "<|tool_c", "thou" after "<|channel>", an unfinished UTF-8
// sequence, a number whose last digit may follow) are held back until they are decided.
//
// Gemma's call syntax: <|tool_call>call:NAME{key:value,...}<tool_call|> with bare keys, strings
// delimited by <|"|> (taken verbatim, no escapes), numbers, true/false/null, nested objects and
// arrays; several calls may follow each other. Tolerated: empty or stray channel markers, a stray
// <tool_call|>, calls ending without <tool_call|>, missing closing braces or a missing final
// <|"|> before <tool_call|>, quoted keys, "JSON" or 'single-quoted' strings, unquoted string
// values. A call that still cannot be read becomes an error event carrying its raw text; it
// never disappears silently and never aborts the parse.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace g4 {

enum class OutputEventType {
  kReasoningDelta,          // text: more reasoning (the thought channel)
  kContentDelta,            // text: more answer text
  kToolCallBegin,           // tool_index, text: the function name
  kToolCallArgumentsDelta,  // tool_index, text: more of the arguments' JSON text
  kToolCallEnd,             // tool_index, arguments: the final JSON object, text: its JSON text
  kError,                   // text: raw model text of the malformed call, message: why;
                            // tool_index >= 0 if that call had already begun (it is void)
  kEndOfTurn,               // text: the stop marker seen ("<turn|>", "<|tool_response>", "<eos>")
};

struct OutputEvent {
  OutputEventType type = OutputEventType::kContentDelta;
  std::string text;
  int tool_index = -1;
  nlohmann::json arguments;  // kToolCallEnd only
  std::string message;       // kError only
};

struct ParsedToolCall {
  std::string name;
  nlohmann::json arguments = nlohmann::json::object();  // always an object
  std::string arguments_json;  // the JSON text streamed as deltas (model's key order)

  bool operator==(const ParsedToolCall&) const = default;
};

struct OutputParseError {
  std::string message;
  std::string raw;  // the model's text of the malformed call, markers included

  bool operator==(const OutputParseError&) const = default;
};

struct ParsedOutput {
  std::string reasoning;  // thought channel(s), label and surrounding whitespace stripped
  std::string content;    // answer text, surrounding whitespace stripped
  std::vector<ParsedToolCall> tool_calls;  // well-formed calls only, in order
  std::vector<OutputParseError> errors;
  std::string stop;  // first stop marker seen ("<turn|>", "<|tool_response>", "<eos>"), or ""

  bool operator==(const ParsedOutput&) const = default;
};

struct OutputParserOptions {
  // The prompt ended inside the thought channel ("<|channel>thought\n", the 2026-07 generation
  // prompt after a tool result with thinking on): output starts as reasoning.
  bool starts_in_reasoning = false;
  // true: a call's begin event comes as soon as its name is complete and its arguments follow as
  // JSON-text deltas; if the call then proves malformed, an error event with its tool_index
  // voids it. false: begin, one arguments delta and end come together once the call is
  // complete and valid, so nothing ever needs voiding. The final result is the same.
  bool stream_tool_arguments = true;
};

class OutputParser {
 public:
  explicit OutputParser(OutputParserOptions options = {});
  ~OutputParser();
  OutputParser(OutputParser&&) noexcept;
  OutputParser& operator=(OutputParser&&) noexcept;

  // Consumes the next piece of output; returns the events it completes (consecutive deltas of
  // one kind merged). Never throws on any input.
  std::vector<OutputEvent> Feed(std::string_view text);
  // End of output: releases held-back text, closes what is open, reports unterminated calls.
  // Further Feed/Finish calls after it are ignored.
  std::vector<OutputEvent> Finish();

  // Everything parsed so far (final after Finish()).
  const ParsedOutput& result() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Non-streaming convenience: the whole output at once.
ParsedOutput ParseModelOutput(std::string_view text, OutputParserOptions options = {});

}  // namespace g4
