// Handlers of the generation endpoints (/v1/chat/completions, /v1/completions): request body
// in, JSON answer or Server-Sent Events out, over the batch scheduler.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include <httplib.h>

#include "api/media_prompt.h"
#include "g4/engine.h"
#include "model/model.h"
#include "server/scheduler.h"

namespace g4 {

struct EndpointContext {
  const LoadedModel* loaded = nullptr;  // the text model and its encoders
  const Model* model = nullptr;         // loaded->internal()
  BatchScheduler* scheduler = nullptr;
  std::string model_id;
  int default_max_tokens = -1;
  MediaEncoders media;  // the model's towers (LoadedModel::towers()) and encoder threads
  std::function<Status(const std::string& url, std::string* data_url)> fetch_remote_media;  // may be empty
};

void HandleChatCompletions(const EndpointContext& ctx, const httplib::Request& req, httplib::Response& res);
void HandleCompletions(const EndpointContext& ctx, const httplib::Request& req, httplib::Response& res);

// Writes an OpenAI-shaped error.
void SendError(httplib::Response& res, int status, const std::string& message, const std::string& param = "",
               const std::string& code = "");

}  // namespace g4
