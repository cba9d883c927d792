#include "server/endpoints.h"

#include <chrono>
#include <memory>

#include "api/chat_prepare.h"
#include "base/error.h"
#include "server/openai_api.h"
#include "server/request_channel.h"

namespace g4 {

using nlohmann::json;

namespace {

// Generated text may hold invalid UTF-8 (byte-fallback tokens in a bad order): replace it
// rather than fail to answer.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string SseData(const json& j) { return "data: " + Dump(j) + "\n\n"; }

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// How often a streaming handler wakes to check that the client is still there.
constexpr auto kStreamPoll = std::chrono::milliseconds(500);

json ParseBody(const httplib::Request& req) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    // Parse again with exceptions for a message that says where it stopped.
    try {
      body = json::parse(req.body);
    } catch (const json::parse_error& e) {
      throw ApiError(400, Concat("invalid JSON in the request body: ", e.what()));
    }
    throw ApiError(400, "invalid JSON in the request body");
  }
  return body;
}

json LogprobsJson(const Tokenizer& tokenizer, const std::vector<SampleResult>& samples) {
  auto entry = [&](int32_t id, float logprob) {
    const std::string& bytes = tokenizer.TokenBytes(id);
    json b = json::array();
    for (unsigned char c : bytes) b.push_back(static_cast<int>(c));
    return json{{"token", bytes}, {"logprob", logprob}, {"bytes", b}};
  };
  json content = json::array();
  for (const SampleResult& s : samples) {
    json e = entry(s.token, s.logprob);
    e["top_logprobs"] = json::array();
    for (const TokenLogprob& t : s.top) e["top_logprobs"].push_back(entry(t.token, t.logprob));
    content.push_back(std::move(e));
  }
  return {{"content", content}};
}

// A request whose events go to `channel` as SSE pieces (when to_chunk is set: it returns the
// chunk for an event, or null for none) and whose result finishes the channel.
std::shared_ptr<ScheduledRequest> ChannelRequest(const std::shared_ptr<RequestChannel>& channel,
                                                 std::function<json(const OutputEvent&)> to_chunk) {
  auto request = std::make_shared<ScheduledRequest>();
  // The scheduler holds the request while it runs, so the flag outlives every call.
  const std::atomic<bool>* cancelled = &request->cancelled;
  request->on_event = [to_chunk = std::move(to_chunk), channel, cancelled](const OutputEvent& e) {
    if (to_chunk) {
      const json chunk = to_chunk(e);
      if (!chunk.is_null()) channel->Push(SseData(chunk));
    }
    return !cancelled->load();
  };
  request->on_done = [channel](GenerateResult result, const std::string& error) {
    channel->Finish(std::move(result), error);
  };
  return request;
}

// Queues the request; answers 503 with Retry-After when the queue is full.
bool SubmitOrRefuse(const EndpointContext& ctx, const std::shared_ptr<ScheduledRequest>& request,
                    httplib::Response& res) {
  if (ctx.scheduler->Submit(request)) return true;
  res.set_header("Retry-After", "1");
  SendError(res, 503, "the server is busy: every slot is in use and the queue is full; retry later", "",
            "server_busy");
  return false;
}

// Streams the channel's pieces as Server-Sent Events; `closing` writes the final events once
// the result is there. A failed write means the client has gone: the generation is cancelled.
void StreamResponse(httplib::Response& res, std::shared_ptr<ScheduledRequest> request,
                    std::shared_ptr<RequestChannel> channel,
                    std::function<std::string(const RequestChannel&)> closing) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [request, channel, closing](size_t, httplib::DataSink& sink) {
        bool finished = false;
        std::deque<std::string> pieces = channel->Take(kStreamPoll, &finished);
        if (pieces.empty() && !finished) pieces.push_back(": keep-alive\n\n");
        if (finished) pieces.push_back(closing(*channel) + "data: [DONE]\n\n");
        for (const std::string& piece : pieces) {
          if (!sink.write(piece.data(), piece.size())) {
            request->cancelled = true;
            return false;
          }
        }
        if (finished) sink.done();
        return true;
      },
      [request](bool success) {
        if (!success) request->cancelled = true;
      });
}

std::string OpenAiFinishReason(const GenerateResult& r, bool has_tool_calls) {
  if (r.finish == FinishReason::kLength) return "length";
  return has_tool_calls ? "tool_calls" : "stop";
}

void CheckContext(const EndpointContext& ctx, size_t prompt_tokens) {
  if (static_cast<int64_t>(prompt_tokens) > ctx.scheduler->context()) {
    throw ApiError(400,
                   Concat("the prompt has ", prompt_tokens, " tokens but the context size is ", ctx.scheduler->context(),
                          " (start the server with a larger --ctx)"),
                   "messages", "context_length_exceeded");
  }
}

// Every media part needs its encoder, and an http(s) URL is replaced by the fetched bytes (a
// data URL) when the server allows remote media. Throws ApiError(400) naming the part.
void ResolveMedia(const EndpointContext& ctx, const std::vector<MediaPartRef>& media, json* messages) {
  for (const MediaPartRef& m : media) {
    const bool audio = m.kind == MediaPartRef::kAudio;
    if (!(audio ? ctx.loaded->has_audio() : ctx.loaded->has_vision())) {
      throw ApiError(400,
                     Concat(m.path(), ": the model has no ", audio ? "audio" : "vision", " encoder, so it cannot take ",
                            audio ? "audio" : m.kind == MediaPartRef::kImage ? "images" : "video",
                            " (g4 serve loads the encoders with --mmproj FILE",
                            audio ? "; only Gemma 4 E2B and E4B hear audio)" : ")"),
                     m.path(), "unsupported_media");
    }
    if (audio) continue;
    json& field = (*messages)[m.message]["content"][m.part][m.kind == MediaPartRef::kImage ? "image_url" : "video_url"];
    json& url_value = field.is_string() ? field : field["url"];  // a bare URL string, or {"url": URL}
    const std::string& url = url_value.get_ref<const std::string&>();
    if (url.rfind("data:", 0) == 0) continue;
    if (!ctx.fetch_remote_media) {
      throw ApiError(400,
                     Concat(m.url_field(), ": remote media is off on this server: send the file as a data URL ",
                            "(data:MIME;base64,DATA), or start g4 serve with --allow-remote-media"),
                     m.url_field(), "remote_media_disabled");
    }
    std::string data_url;
    const Status st = ctx.fetch_remote_media(std::string(url), &data_url);
    if (!st.ok()) throw ApiError(400, Concat(m.url_field(), ": ", st.message()), m.url_field());
    url_value = std::move(data_url);
  }
}

// The request field an engine error names first ("messages[1].content[0]: cannot decode ...").
std::string ErrorParam(const std::string& message) {
  if (message.rfind("messages[", 0) != 0) return "";
  const size_t end = message.find(": ");
  const std::string path = message.substr(0, end);
  return path.find(' ') == std::string::npos ? path : "";
}

template <typename Fn>
void Guarded(httplib::Response& res, Fn&& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    SendError(res, e.status(), e.what(), e.param(), e.code());
  } catch (const Error& e) {
    SendError(res, 400, e.what(), ErrorParam(e.what()));
  } catch (const json::exception& e) {
    SendError(res, 400, Concat("invalid request: ", e.what()));
  } catch (const std::bad_alloc&) {
    SendError(res, 500, "out of memory");
  }
}

}  // namespace

void SendError(httplib::Response& res, int status, const std::string& message, const std::string& param,
               const std::string& code) {
  res.status = status;
  res.set_content(Dump(ErrorBody(status, message, param, code)), "application/json");
}

void HandleChatCompletions(const EndpointContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Guarded(res, [&] {
    ChatCompletionRequest r = ParseChatCompletionRequest(ParseBody(req));
    ResolveMedia(ctx, r.media, &r.chat.messages);
    if (r.chat.max_tokens < 0) r.chat.max_tokens = ctx.default_max_tokens;
    PreparedChat prepared = PrepareChat(*ctx.model, r.chat, ctx.media);
    CheckContext(ctx, prepared.ids.size());
    prepared.options.stop_after_first_tool_call = !r.parallel_tool_calls;
    prepared.options.sampling.logprobs = r.logprobs;
    prepared.options.sampling.top_logprobs = r.top_logprobs;

    const std::string id = NewId("chatcmpl");
    const int64_t created = UnixSeconds();
    auto channel = std::make_shared<RequestChannel>();
    std::function<json(const OutputEvent&)> to_chunk;
    if (r.stream) {
      auto writer = std::make_shared<ChunkWriter>(id, ctx.model_id, created, prepared.declared_tools);
      channel->Push(SseData(writer->RoleChunk()));
      to_chunk = [writer](const OutputEvent& e) { return writer->EventChunk(e); };
    }
    auto request = ChannelRequest(channel, to_chunk);
    request->prompt = prepared.ids;
    request->soft = std::move(prepared.soft);
    request->options = prepared.options;
    if (!SubmitOrRefuse(ctx, request, res)) return;

    const bool has_tools = !r.chat.tools.is_null();
    const int prompt_tokens = static_cast<int>(prepared.ids.size());
    if (r.stream) {
      const ChunkWriter final_writer(id, ctx.model_id, created, {});
      const bool include_usage = r.include_usage;
      StreamResponse(res, request, channel, [=](const RequestChannel& done) {
        if (!done.error().empty()) return SseData(ErrorBody(500, done.error()));
        const ChatResult out = ToChatResult(done.result(), prepared, has_tools);
        std::string tail = SseData(final_writer.FinalChunk(OpenAiFinishReason(done.result(), !out.tool_calls.empty())));
        if (include_usage) {
          tail += SseData(final_writer.UsageChunk(
              UsageJson(prompt_tokens, done.result().reused_tokens, done.result().completion_tokens)));
        }
        return tail;
      });
      return;
    }
    channel->WaitFinished();
    if (!channel->error().empty()) throw ApiError(500, channel->error());
    const GenerateResult& result = channel->result();
    const ChatResult out = ToChatResult(result, prepared, has_tools);
    json message = {{"role", "assistant"}};
    message["content"] = out.content.empty() && !out.tool_calls.empty() ? json(nullptr) : json(out.content);
    if (!out.reasoning.empty()) message["reasoning_content"] = out.reasoning;
    if (!out.tool_calls.empty()) {
      json calls = json::array();
      for (size_t i = 0; i < out.tool_calls.size(); ++i) {
        calls.push_back({{"id", ToolCallId(id, static_cast<int>(i))},
                         {"type", "function"},
                         {"function", {{"name", out.tool_calls[i].name}, {"arguments", out.tool_calls[i].arguments_json}}}});
      }
      message["tool_calls"] = calls;
    }
    json choice = {{"index", 0},
                   {"message", message},
                   {"logprobs", r.logprobs ? LogprobsJson(ctx.model->tokenizer(), result.logprobs) : json(nullptr)},
                   {"finish_reason", OpenAiFinishReason(result, !out.tool_calls.empty())}};
    json body = {{"id", id},
                 {"object", "chat.completion"},
                 {"created", created},
                 {"model", ctx.model_id},
                 {"choices", json::array({choice})},
                 {"usage", UsageJson(prompt_tokens, result.reused_tokens, result.completion_tokens)}};
    if (!out.errors.empty()) body["g4_errors"] = out.errors;
    res.set_content(Dump(body), "application/json");
  });
}

void HandleCompletions(const EndpointContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Guarded(res, [&] {
    const CompletionRequest r = ParseCompletionRequest(ParseBody(req));
    const Tokenizer& tokenizer = ctx.model->tokenizer();
    std::vector<int32_t> ids = tokenizer.Encode(r.prompt, /*parse_special=*/true);
    if (ids.empty() || ids[0] != tokenizer.bos_id()) ids.insert(ids.begin(), tokenizer.bos_id());
    CheckContext(ctx, ids.size());

    const std::string id = NewId("cmpl");
    const int64_t created = UnixSeconds();
    auto chunk = [&, id, created](const std::string& text, const json& finish) {
      return json{{"id", id},
                  {"object", "text_completion"},
                  {"created", created},
                  {"model", ctx.model_id},
                  {"choices", json::array({{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish}}})}};
    };
    auto channel = std::make_shared<RequestChannel>();
    std::function<json(const OutputEvent&)> to_chunk;
    if (r.stream) {
      if (r.echo) channel->Push(SseData(chunk(r.prompt, nullptr)));
      to_chunk = [chunk](const OutputEvent& e) {
        return e.type == OutputEventType::kContentDelta && !e.text.empty() ? chunk(e.text, nullptr) : json();
      };
    }
    auto request = ChannelRequest(channel, to_chunk);
    request->prompt = ids;
    GenerateOptions& options = request->options;
    options.sampling = MakeSampling(*ctx.model, r.sampling);
    options.sampling.logprobs = r.logprobs;
    options.sampling.top_logprobs = r.top_logprobs;
    options.max_tokens = r.max_tokens;
    options.stop_strings = r.stop;
    options.raw_text = true;
    ValidateSamplingParams(options.sampling, ctx.model->config().vocab_size);
    if (!SubmitOrRefuse(ctx, request, res)) return;
    const int prompt_tokens = static_cast<int>(ids.size());
    if (r.stream) {
      const bool include_usage = r.include_usage;
      StreamResponse(res, request, channel, [=](const RequestChannel& done) {
        if (!done.error().empty()) return SseData(ErrorBody(500, done.error()));
        std::string tail = SseData(chunk("", OpenAiFinishReason(done.result(), false)));
        if (include_usage) {
          json usage = chunk("", nullptr);
          usage["choices"] = json::array();
          usage["usage"] = UsageJson(prompt_tokens, done.result().reused_tokens, done.result().completion_tokens);
          tail += SseData(usage);
        }
        return tail;
      });
      return;
    }
    channel->WaitFinished();
    if (!channel->error().empty()) throw ApiError(500, channel->error());
    const GenerateResult& result = channel->result();
    json body = chunk((r.echo ? r.prompt : "") + result.raw_text, OpenAiFinishReason(result, false));
    if (r.logprobs) body["choices"][0]["logprobs"] = LogprobsJson(tokenizer, result.logprobs);
    body["usage"] = UsageJson(prompt_tokens, result.reused_tokens, result.completion_tokens);
    res.set_content(Dump(body), "application/json");
  });
}

}  // namespace g4
