// Shared by the chat corpus tools: loads a model and opens a chat session on it.
#pragma once

#include <iostream>
#include <memory>

#include "g4/chat.h"

namespace g4::corpus {

// Prints the error and returns false on failure.
inline bool OpenSession(const char* model_path, int context, std::unique_ptr<LoadedModel>* model,
                        std::unique_ptr<ChatSession>* session) {
  Status st = LoadedModel::Load(model_path, model);
  if (st.ok()) {
    SessionConfig config;
    config.context = context;
    st = ChatSession::Create(**model, config, session);
  }
  if (!st.ok()) std::cerr << st.message() << "\n";
  return st.ok();
}

}  // namespace g4::corpus
