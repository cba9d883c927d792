// Turning a ChatRequest into what the engine runs: the rendered prompt, its tokens and the
// generation options (sampling defaults from the model file, the JSON-schema constraint,
// thinking). Shared by ChatSession and the HTTP server.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "api/media_prompt.h"
#include "engine/sequence_decoder.h"
#include "g4/chat.h"
#include "model/model.h"

namespace g4 {

struct PreparedChat {
  std::string prompt;       // rendered text, media as their one-token placeholders
  std::vector<int32_t> ids;  // expanded: kSoftToken at the soft positions of the media
  SoftTokens soft;           // the soft positions' embeddings, in order
  GenerateOptions options;
  std::set<std::string> declared_tools;  // names of the request's tools
};

// Throws g4::Error naming the problem (messages[i]..., schema paths, invalid UTF-8). Media
// parts are decoded and encoded with `encoders` (api/media_prompt.h); a model without them fails
// with "messages[i].content[j]: this model has no vision encoder; ...".
PreparedChat PrepareChat(const Model& model, const ChatRequest& request, const MediaEncoders& encoders = {});
std::string RenderChatRequest(const Model& model, const ChatRequest& request);
SamplingParams MakeSampling(const Model& model, const SamplingOptions& options);

ChatEvent ToPublicEvent(const OutputEvent& e);
std::string UndeclaredToolMessage(const std::string& name);

// The parsed answer in public form; a call to a tool the request did not declare becomes an
// error instead of a tool call.
ChatResult ToChatResult(const GenerateResult& r, const PreparedChat& prepared, bool has_tools);

}  // namespace g4
