// The public chat API over the chat template, the tokenizer, the generator and the parser.
#include "g4/chat.h"

#include "api/chat_prepare.h"

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
    const PreparedChat prepared = PrepareChat(*impl_->model, request);
    EventCallback callback;
    if (on_event) {
      callback = [&](const OutputEvent& e) {
        if (e.type == OutputEventType::kEndOfTurn) return true;
        return on_event(ToPublicEvent(e));
      };
    }
    const GenerateResult r = impl_->generator->Generate(prepared.ids, prepared.options, callback, cancel);
    ChatResult out = ToChatResult(r, prepared, !request.tools.is_null());
    if (on_event) {
      for (const std::string& error : out.errors) {
        if (error.rfind("call to undeclared tool", 0) == 0) {
          on_event(ChatEvent{ChatEvent::Type::kError, error.substr(error.find(": ") + 2), -1,
                             error.substr(0, error.find(": "))});
        }
      }
    }
    *result = std::move(out);
  });
}

}  // namespace g4
