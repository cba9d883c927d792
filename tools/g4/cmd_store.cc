// g4 pull / list / rm / show: the model store.
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/human_bytes.h"
#include "commands.h"
#include "g4/engine.h"
#include "g4/memory.h"
#include "g4/store.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model_resolve.h"

namespace g4::cli {
namespace {

std::string Bytes(uint64_t b) { return HumanBytes(static_cast<double>(b)); }

std::string Ago(int64_t when) {
  if (when <= 0) return "never";
  const int64_t s = static_cast<int64_t>(std::time(nullptr)) - when;
  char buf[64];
  if (s < 60) return "just now";
  if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lld minutes ago", static_cast<long long>(s / 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lld hours ago", static_cast<long long>(s / 3600));
  } else {
    std::snprintf(buf, sizeof buf, "%lld days ago", static_cast<long long>(s / 86400));
  }
  return buf;
}

std::string Date(int64_t when) {
  if (when <= 0) return "never";
  const std::time_t t = static_cast<std::time_t>(when);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&t));
  return buf;
}

ModelStore OpenStore(const std::string& dir, int parallel = 4, int retries = 3) {
  StoreOptions o;
  o.root = dir;
  o.parallel_downloads = parallel;
  o.retries = retries;
  return ModelStore(o);
}

// ---- pull ----

struct PullArgs {
  std::vector<std::string> names;
  std::string store;
  int parallel = 4;
  int retries = 3;
  bool list = false;
};

int RunPull(const PullArgs& args) {
  if (args.list || args.names.empty()) {
    std::printf("%-20s %-52s %s\n", "NAME", "REFERENCE", "");
    for (const ModelAlias& a : ModelAliases()) {
      std::printf("%-20s %-52s %s\n", a.name.c_str(), a.reference.c_str(), a.description.c_str());
    }
    std::printf("\nor any hf://OWNER/REPO[:FILE_OR_QUANT] (a GGUF repo: a quant such as q4_k_m or a file name; "
                "a safetensors repo: nothing)\n");
    return args.names.empty() && !args.list ? 2 : 0;
  }
  ModelStore store = OpenStore(args.store, args.parallel, args.retries);
  for (const std::string& name : args.names) {
    StoredModel m;
    Status st = store.Pull(name, &m);
    if (!st.ok()) {
      std::fprintf(stderr, "g4 pull: %s\n", st.message().c_str());
      return 1;
    }
    std::printf("%s: Gemma 4 %s, %s %s, %s in %zu file%s: %s\n", m.name.c_str(), m.variant.c_str(), m.quant.c_str(),
                m.format.c_str(), Bytes(m.bytes).c_str(), m.files.size(), m.files.size() == 1 ? "" : "s", m.path.c_str());
  }
  return 0;
}

// ---- list ----

struct ListArgs {
  std::string store;
  bool json = false;
};

int RunList(const ListArgs& args) {
  ModelStore store = OpenStore(args.store);
  std::vector<StoredModel> models;
  Status st = store.List(&models);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 list: %s\n", st.message().c_str());
    return 1;
  }
  if (args.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const StoredModel& m : models) {
      j.push_back({{"name", m.name}, {"reference", m.reference}, {"path", m.path}, {"format", m.format},
                   {"quant", m.quant}, {"variant", m.variant}, {"bytes", m.bytes}, {"pulled_at", m.pulled_at},
                   {"last_used", m.last_used}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  if (models.empty()) {
    std::printf("no models in %s yet; `g4 pull gemma4:e2b` fetches one\n", store.root().c_str());
    return 0;
  }
  std::printf("%-44s %10s  %-8s %-8s %s\n", "NAME", "SIZE", "QUANT", "VARIANT", "LAST USED");
  for (const StoredModel& m : models) {
    std::printf("%-44s %10s  %-8s %-8s %s\n", m.name.c_str(), Bytes(m.bytes).c_str(), m.quant.c_str(),
                m.variant.c_str(), Ago(m.last_used).c_str());
  }
  return 0;
}

// ---- rm ----

struct RmArgs {
  std::vector<std::string> names;
  std::string store;
};

int RunRm(const RmArgs& args) {
  ModelStore store = OpenStore(args.store);
  int rc = 0;
  for (const std::string& name : args.names) {
    StoredModel removed;
    Status st = store.Remove(name, &removed);
    if (!st.ok()) {
      std::fprintf(stderr, "g4 rm: %s\n", st.message().c_str());
      rc = 1;
      continue;
    }
    std::printf("removed %s (%s)\n", removed.name.c_str(), Bytes(removed.bytes).c_str());
  }
  return rc;
}

// ---- show ----

struct ShowArgs {
  std::string name;
  std::string store;
  int context = 4096;
  int threads = 0;
  bool json = false;
};

// Whether the model carries its own chat template (g4 renders the official Gemma 4 format itself).
std::string TemplateSource(const LoadedModel& model, const std::string& path) {
  if (const GgufFile* g = model.internal().gguf(); g != nullptr) {
    return g->Find("tokenizer.chat_template") != nullptr ? "in the GGUF metadata" : "none in the file";
  }
  const std::string dir = model.internal().path();
  for (const char* file : {"chat_template.jinja", "chat_template.json"}) {
    if (std::FILE* f = std::fopen((dir + "/" + file).c_str(), "rb")) {
      std::fclose(f);
      return file;
    }
  }
  return "none beside the checkpoint";
}

int RunShow(const ShowArgs& args) {
  ModelStore store = OpenStore(args.store);
  StoredModel stored;
  bool in_store = false;
  std::string path = args.name;
  if (IsModelName(args.name)) {
    Status st = store.Find(args.name, &stored, &in_store);
    if (!st.ok()) {
      std::fprintf(stderr, "g4 show: %s\n", st.message().c_str());
      return 1;
    }
    if (!in_store) {
      std::fprintf(stderr, "g4 show: %s has not been pulled; `g4 pull %s` fetches it\n", args.name.c_str(),
                   args.name.c_str());
      return 1;
    }
    path = stored.path;
  }
  std::unique_ptr<LoadedModel> model;
  Status st = LoadedModel::Load(path, &model);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 show: %s\n", st.message().c_str());
    return 1;
  }
  const ModelSummary s = model->Summary();
  const int context = args.context > 0 ? args.context : s.context_length;
  const MemoryEstimate at_ctx = EstimateMemory(*model, context, args.threads);
  const MemoryEstimate at_full = EstimateMemory(*model, s.context_length, args.threads);
  const uint64_t available = AvailableMemory();
  const std::string chat_template = TemplateSource(*model, path);
  std::string pattern;
  for (const LayerSummary& l : s.layers) pattern += l.attention == "sliding" ? 'S' : 'F';

  if (args.json) {
    auto mem = [](const MemoryEstimate& e) {
      return nlohmann::json{{"context", e.context}, {"weights", e.weights}, {"kv_cache", e.kv_cache},
                            {"buffers", e.buffers}, {"runtime", e.runtime}, {"total", e.total}};
    };
    nlohmann::json j = {{"path", path}, {"format", s.format}, {"variant", s.variant}, {"layers", s.n_layers},
                        {"hidden", s.d_model}, {"vocab", s.vocab_size}, {"context_length", s.context_length},
                        {"sliding_window", s.sliding_window}, {"layer_pattern", pattern},
                        {"parameters", s.text_parameters}, {"chat_template", chat_template},
                        {"memory", mem(at_ctx)}, {"memory_full_context", mem(at_full)},
                        {"available_memory", available}};
    if (in_store) {
      j["name"] = stored.name;
      j["reference"] = stored.reference;
      j["quant"] = stored.quant;
      j["bytes"] = stored.bytes;
      j["pulled_at"] = stored.pulled_at;
      j["last_used"] = stored.last_used;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  if (in_store) {
    std::printf("name:           %s\n", stored.name.c_str());
    std::printf("reference:      %s\n", stored.reference.c_str());
    std::printf("files:          %zu, %s, pulled %s, last used %s\n", stored.files.size(), Bytes(stored.bytes).c_str(),
                Date(stored.pulled_at).c_str(), Ago(stored.last_used).c_str());
  }
  std::printf("path:           %s\n", path.c_str());
  std::printf("format:         %s%s%s\n", s.format.c_str(), in_store ? ", " : "", in_store ? stored.quant.c_str() : "");
  const double params = static_cast<double>(s.text_parameters);
  std::printf("model:          Gemma 4 %s, %.2f %s parameters, %d layers (%s), hidden %d, vocab %d\n",
              s.variant.c_str(), params >= 1e9 ? params / 1e9 : params / 1e6, params >= 1e9 ? "B" : "M", s.n_layers, pattern.c_str(), s.d_model,
              s.vocab_size);
  std::printf("context:        %d tokens (sliding window %d)\n", s.context_length, s.sliding_window);
  std::printf("chat template:  %s (g4 renders the official Gemma 4 format)\n", chat_template.c_str());
  auto line = [&](const char* label, const MemoryEstimate& e) {
    std::printf("%s %s = %s weights + %s KV cache + %s buffers + %s runtime (context %lld)\n", label,
                Bytes(e.total).c_str(), Bytes(e.weights).c_str(), Bytes(e.kv_cache).c_str(), Bytes(e.buffers).c_str(),
                Bytes(e.runtime).c_str(), static_cast<long long>(e.context));
  };
  line("memory:        ", at_ctx);
  if (at_full.context != at_ctx.context) line("full context:  ", at_full);
  if (available > 0) {
    std::printf("available:      %s%s\n", Bytes(available).c_str(),
                at_ctx.total > available ? " (not enough at this context)" : "");
  }
  return 0;
}

}  // namespace

Runner AddPullCommand(CLI::App& app) {
  auto args = std::make_shared<PullArgs>();
  CLI::App* sub = app.add_subcommand("pull", "Download a model from the Hugging Face hub into the model store");
  sub->add_option("name", args->names, "gemma4:e2b, gemma4:e4b:q8_0, ... or hf://OWNER/REPO[:FILE_OR_QUANT]");
  AddStoreOption(sub, &args->store);
  sub->add_option("--parallel", args->parallel, "files downloaded at once")->capture_default_str();
  sub->add_option("--retries", args->retries, "automatic resumes of a broken-off download")->capture_default_str();
  sub->add_flag("--list", args->list, "print the model names g4 knows");
  return [args] { return RunPull(*args); };
}

Runner AddListCommand(CLI::App& app) {
  auto args = std::make_shared<ListArgs>();
  CLI::App* sub = app.add_subcommand("list", "List the models in the store");
  AddStoreOption(sub, &args->store);
  sub->add_flag("--json", args->json, "print JSON");
  return [args] { return RunList(*args); };
}

Runner AddRmCommand(CLI::App& app) {
  auto args = std::make_shared<RmArgs>();
  CLI::App* sub = app.add_subcommand("rm", "Remove models from the store");
  sub->add_option("name", args->names, "model names as `g4 list` shows them")->required();
  AddStoreOption(sub, &args->store);
  return [args] { return RunRm(*args); };
}

Runner AddShowCommand(CLI::App& app) {
  auto args = std::make_shared<ShowArgs>();
  CLI::App* sub = app.add_subcommand("show", "Show a stored model (or a model file): config, template, context, memory");
  sub->add_option("name", args->name, "model name or path")->required();
  AddStoreOption(sub, &args->store);
  sub->add_option("-c,--ctx", args->context, "context size for the memory estimate (0: the model's)")
      ->capture_default_str();
  sub->add_option("-t,--threads", args->threads, "threads for the estimate (default: all cores)");
  sub->add_flag("--json", args->json, "print JSON");
  return [args] { return RunShow(*args); };
}

}  // namespace g4::cli
