// The public chat API over the chat template, the tokenizer, the generator and the parser.
#include "g4/chat.h"

#include "api/chat_prepare.h"

#include <map>
#include <random>
#include <set>

#include "base/error.h"
#include "chat/chat_template.h"
#include "engine/generator.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace g4 {

struct ChatSession::Impl {
  const Model* model = nullptr;
  MediaCache media_cache;  // the conversation's media, encoded once
  MediaEncoders encoders;
  std::unique_ptr<Generator> generator;
};

ChatSession::~ChatSession() = default;

namespace {

template <typename Fn>
Status Guard(Fn&& fn) {
  try {
    fn();
    return Status::Ok();
  } catch (const Error& e) {
    return Status::Error(e.what());
  } catch (const nlohmann::json::exception& e) {
    return Status::Error(Concat("invalid JSON: ", e.what()));
  } catch (const std::bad_alloc&) {
    return Status::Error("out of memory");
  }
}

}  // namespace

Status ChatSession::Create(const LoadedModel& model, const SessionConfig& config, std::unique_ptr<ChatSession>* out) {
  return Guard([&] {
    std::unique_ptr<ChatSession> s(new ChatSession());
    s->impl_ = std::make_unique<Impl>();
    s->impl_->model = &model.internal();
    s->impl_->encoders = {model.towers(), config.n_threads, &s->impl_->media_cache};
    SessionOptions options;
    options.max_context = config.context;
    options.n_threads = config.n_threads;
    options.kv_type = ParseKvType(config.kv_type);
    s->impl_->generator = std::make_unique<Generator>(model.internal(), model.internal().tokenizer(), options);
    *out = std::move(s);
  });
}

Status ChatSession::RenderPrompt(const ChatRequest& request, std::string* prompt) const {
  return Guard([&] { *prompt = RenderChatRequest(*impl_->model, request); });
}

void ChatSession::Reset() { impl_->generator->Reset(); }

Status ChatSession::Respond(const ChatRequest& request, const std::function<bool(const ChatEvent&)>& on_event,
                            ChatResult* result, const std::atomic<bool>* cancel) {
  return Guard([&] {
    const PreparedChat prepared = PrepareChat(*impl_->model, request, impl_->encoders);
    // A call to a tool the request never declared (possible when calls are not constrained) is
    // reported as an error, not passed on as if valid. Streamed, the error event follows the
    // call's end event and carries its tool_index, which voids the call.
    auto undeclared = [&](const std::string& name) {
      return !request.tools.is_null() && prepared.declared_tools.count(name) == 0;
    };
    EventCallback callback;
    std::map<int, std::string> call_names;  // tool_index -> name, from the begin events
    if (on_event) {
      callback = [&](const OutputEvent& e) {
        if (e.type == OutputEventType::kEndOfTurn) return true;
        if (e.type == OutputEventType::kToolCallBegin) call_names[e.tool_index] = e.text;
        bool go_on = on_event(ToPublicEvent(e));
        if (e.type == OutputEventType::kToolCallEnd && undeclared(call_names[e.tool_index])) {
          const std::string& name = call_names[e.tool_index];
          go_on = on_event(ChatEvent{ChatEvent::Type::kError, e.text, e.tool_index, UndeclaredToolMessage(name)}) && go_on;
        }
        return go_on;
      };
    }
    const GenerateResult r = impl_->generator->Generate(prepared.ids, prepared.options, callback, cancel, &prepared.soft);
    ChatResult out = ToChatResult(r, prepared, !request.tools.is_null());
    *result = std::move(out);
  });
}

}  // namespace g4
