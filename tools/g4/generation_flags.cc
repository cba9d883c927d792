#include "generation_flags.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "model_resolve.h"

namespace g4::cli {

void AddGenerationFlags(CLI::App* sub, GenerationFlags* f) {
  sub->add_option("-m,--model,model", f->model,
                  "GGUF file, Hugging Face checkpoint folder, or model name (gemma4:e2b, hf://OWNER/REPO[:QUANT]; pulled on first use)")
      ->required();
  AddStoreOption(sub, &f->store);
  sub->add_flag("--no-memory-check", f->no_memory_check, "load even when the memory estimate exceeds the available memory");
  sub->add_option("-c,--ctx", f->context, "context size in tokens")->capture_default_str();
  sub->add_option("--kv-type", f->kv_type, "KV cache entries: f16 (default), bf16, q8_0 or f32");
  sub->add_option("-t,--threads", f->threads, "threads (default: all cores)");
  sub->add_option("-n,--max-tokens", f->max_tokens, "stop after this many generated tokens (-1: no limit)");
  sub->add_option("--system", f->system, "system instruction");
  sub->add_flag("--think", f->think, "let the model think before answering");
  sub->add_option("--json-schema", f->json_schema_file, "constrain the answer to this JSON Schema (file)");
  sub->add_flag("--json", f->json, "constrain the answer to a JSON object");
  sub->add_option("--tools", f->tools_file, "tools the model may call: a JSON file with an OpenAI tools array");
  sub->add_option("--tool-choice", f->tool_choice,
                  "auto (default), none, required, or a tool name (the answer is a call to it)");
  sub->add_flag("--no-constrain-tools", f->no_constrain_tools,
                "generate tool calls freely instead of constraining them to the tools' parameter schemas");
  sub->add_option("--reasoning", f->reasoning, "how to show reasoning: dim, stderr, hide (default: dim on a terminal, else stderr)")
      ->check(CLI::IsMember({"auto", "dim", "stderr", "hide"}));
  sub->add_option("--stop", f->stop, "stop when this text is generated (repeatable)");
  sub->add_option("--temp", f->temperature, "temperature (0: greedy; default from the model, else 1.0)");
  sub->add_option("--top-k", f->top_k, "top-k (default 64)");
  sub->add_option("--top-p", f->top_p, "top-p (default 0.95)");
  sub->add_option("--min-p", f->min_p, "min-p (default 0)");
  sub->add_option("--repeat-penalty", f->repeat_penalty, "repetition penalty (default 1: off)");
  sub->add_option("--presence-penalty", f->presence_penalty, "presence penalty");
  sub->add_option("--frequency-penalty", f->frequency_penalty, "frequency penalty");
  sub->add_option("-s,--seed", f->seed, "random seed (default: random)");
  AddMmprojFlags(sub, &f->mmproj);
  AddMediaFlags(sub, &f->media);
}

bool OpenChat(const GenerationFlags& flags, const char* command, std::unique_ptr<LoadedModel>* model,
              std::unique_ptr<ChatSession>* session) {
  std::string path;
  if (!ResolveModelArgument(flags.model, flags.store, command, &path)) return false;
  const bool tty = ::isatty(STDERR_FILENO);
  const auto load_start = std::chrono::steady_clock::now();
  LoadOptions options;
  bool mmproj_auto = false;
  options.mmproj_path = ChooseMmproj(flags.mmproj, path, command, &mmproj_auto);
  if (tty) std::fprintf(stderr, "loading %s ...", path.c_str());
  Status st = LoadedModel::Load(path, options, model);
  if (tty) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    std::fprintf(stderr, " %s in %.1f s\n", st.ok() ? "loaded" : "failed", seconds);
  }
  if (st.ok() && !CheckMemoryBeforeRun(**model, flags.model, flags.context, flags.threads, flags.no_memory_check, command)) {
    return false;
  }
  if (st.ok()) {
    SessionConfig config;
    config.context = flags.context;
    config.n_threads = flags.threads;
    config.kv_type = flags.kv_type;
    st = ChatSession::Create(**model, config, session);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "g4 %s: %s%s\n", command, st.message().c_str(),
                 MmprojLoadHint(mmproj_auto && st.message().find(options.mmproj_path) != std::string::npos).c_str());
    return false;
  }
  return true;
}

bool CommandLineMedia(const GenerationFlags& flags, const char* command, std::vector<nlohmann::json>* parts) {
  for (const MediaFile& file : flags.media.order) {
    nlohmann::json part;
    if (!MediaPart(file, command, &part)) return false;
    parts->push_back(std::move(part));
  }
  return true;
}

namespace {
bool ReadJsonFile(const std::string& path, const char* command, nlohmann::json* out) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "g4 %s: %s: cannot open\n", command, path.c_str());
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    *out = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "g4 %s: %s: not valid JSON: %s\n", command, path.c_str(), e.what());
    return false;
  }
  return true;
}
}  // namespace

bool ApplyGenerationFlags(const GenerationFlags& f, const char* command, ChatRequest* request) {
  request->thinking = f.think;
  request->image_tokens = f.media.image_tokens;
  request->video_frames = f.media.video_frames;
  request->allow_file_urls = true;  // the user's own files, named on the command line
  request->max_tokens = f.max_tokens;
  request->stop = f.stop;
  SamplingOptions& s = request->sampling;
  if (f.temperature >= 0) s.temperature = f.temperature;
  if (f.top_k >= 0) s.top_k = f.top_k;
  if (f.top_p >= 0) s.top_p = f.top_p;
  if (f.min_p >= 0) s.min_p = f.min_p;
  if (f.repeat_penalty >= 0) s.repetition_penalty = f.repeat_penalty;
  if (f.presence_penalty != 0) s.presence_penalty = f.presence_penalty;
  if (f.frequency_penalty != 0) s.frequency_penalty = f.frequency_penalty;
  if (f.seed >= 0) s.seed = static_cast<uint64_t>(f.seed);
  if (f.json) request->json_schema = {{"type", "object"}};
  if (!f.tools_file.empty() && !ReadJsonFile(f.tools_file, command, &request->tools)) return false;
  request->constrain_tool_calls = !f.no_constrain_tools;
  if (f.tool_choice == "auto" || f.tool_choice == "none" || f.tool_choice == "required") {
    request->tool_choice = f.tool_choice;
  } else if (!f.tool_choice.empty()) {
    request->tool_choice = {{"type", "function"}, {"function", {{"name", f.tool_choice}}}};
  }
  if (!f.json_schema_file.empty() && !ReadJsonFile(f.json_schema_file, command, &request->json_schema)) return false;
  // Long prompts: a progress line on a terminal while the prompt is read (tokens and rate).
  if (::isatty(STDERR_FILENO)) {
    auto start = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    request->on_prefill_progress = [start](int64_t done, int64_t total) {
      if (total < 1024) return;  // short prompts take no time worth showing
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - *start).count();
      std::fprintf(stderr, "\rreading the prompt: %lld / %lld tokens, %.0f tok/s ", static_cast<long long>(done),
                   static_cast<long long>(total), seconds > 0 ? done / seconds : 0.0);
      if (done == total) std::fprintf(stderr, "\r\033[K");
    };
  }
  return true;
}

EventPrinter::EventPrinter(const GenerationFlags& flags) {
  if (flags.reasoning == "dim") {
    display_ = ReasoningDisplay::kDim;
  } else if (flags.reasoning == "stderr") {
    display_ = ReasoningDisplay::kStderr;
  } else if (flags.reasoning == "hide") {
    display_ = ReasoningDisplay::kHide;
  } else {
    display_ = ::isatty(STDOUT_FILENO) ? ReasoningDisplay::kDim : ReasoningDisplay::kStderr;
  }
}

bool EventPrinter::operator()(const ChatEvent& e) {
  if (e.type == ChatEvent::Type::kReasoning) {
    if (display_ == ReasoningDisplay::kHide) return true;
    if (display_ == ReasoningDisplay::kDim) {
      if (!in_reasoning_) std::fputs("\033[2m", stdout);
      in_reasoning_ = true;
      std::fputs(e.text.c_str(), stdout);
      std::fflush(stdout);
    } else {
      std::fputs(e.text.c_str(), stderr);
    }
    return true;
  }
  if (in_reasoning_) {
    std::fputs("\033[0m\n", stdout);
    in_reasoning_ = false;
  }
  switch (e.type) {
    case ChatEvent::Type::kContent:
      std::fputs(e.text.c_str(), stdout);
      wrote_content_ = true;
      break;
    case ChatEvent::Type::kToolCallEnd:
      std::fprintf(stdout, "%s[tool call #%d] %s\n", wrote_content_ ? "\n" : "", e.tool_index, e.text.c_str());
      break;
    case ChatEvent::Type::kError:
      std::fprintf(stderr, "\n[malformed tool call] %s: %s\n", e.message.c_str(), e.text.c_str());
      break;
    default:
      break;
  }
  std::fflush(stdout);
  return true;
}

void EventPrinter::Finish(const ChatResult& result) {
  if (in_reasoning_) std::fputs("\033[0m", stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  std::fprintf(stderr, "[%d prompt tokens (%d cached), %d generated, prefill %.1f tok/s, decode %.1f tok/s, %s]\n",
               result.prompt_tokens, result.cached_tokens, result.completion_tokens, result.prefill_tokens_per_second,
               result.decode_tokens_per_second, result.finish_reason.c_str());
}

}  // namespace g4::cli
