// g4 serve: the OpenAI-compatible HTTP server (include/g4/server.h).
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "commands.h"
#include "g4/server.h"
#include "media_flags.h"
#include "model_resolve.h"
#include "remote_media.h"

namespace g4::cli {

namespace {

Server* g_server = nullptr;

void OnSignal(int) {
  // Stop() only flips httplib's flag and shuts the listening socket; the main thread then
  // finishes the requests in flight and exits.
  if (g_server != nullptr) std::thread([] { g_server->Stop(); }).detach();
}

// Remote media (--allow-remote-media) must arrive within this time.
constexpr int kRemoteMediaTimeoutSeconds = 30;

struct ServeArgs {
  ServerOptions options;
  std::string store;
  MmprojFlags mmproj;
  bool allow_remote_media = false;
};

int Serve(ServeArgs& args) {
  ServerOptions& options = args.options;
  // A model name (gemma4:e2b, hf://...) is looked up in the store and pulled on first use.
  std::string path;
  if (!ResolveModelArgument(options.model_path, args.store, "g4 serve", &path)) return 1;
  if (options.model_name.empty() && path != options.model_path) options.model_name = options.model_path;
  options.model_path = path;
  bool mmproj_auto = false;
  options.mmproj_path = ChooseMmproj(args.mmproj, path, "serve", &mmproj_auto);
  // A fetched file becomes base64 in the request, so it may be as large as a request body.
  if (args.allow_remote_media) {
    options.fetch_remote_media = RemoteMediaFetcher(options.max_body_bytes, kRemoteMediaTimeoutSeconds);
  }
  std::unique_ptr<Server> server;
  Status st = Server::Create(options, &server);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 serve: %s\n", st.message().c_str());
    return 1;
  }
  g_server = server.get();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr, "g4 serve: listening on http://%s:%d (loading %s)\n", options.host.c_str(), server->port(),
               options.model_path.c_str());
  st = server->Run();
  g_server = nullptr;
  if (!st.ok()) {
    std::fprintf(stderr, "g4 serve: %s%s\n", st.message().c_str(),
                 MmprojLoadHint(mmproj_auto && st.message().find(options.mmproj_path) != std::string::npos).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

Runner AddServeCommand(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  ServerOptions* o = &args->options;
  CLI::App* sub = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API");
  sub->add_option("-m,--model", o->model_path,
                  "model: a GGUF file, a Hugging Face folder, or a name (gemma4:e2b, hf://OWNER/REPO[:QUANT]) "
                  "pulled into the store on first use")
      ->required();
  AddStoreOption(sub, &args->store);
  sub->add_option("--alias", o->model_name, "model id reported by /v1/models (default: the file name)");
  sub->add_option("--host", o->host, "address to listen on (default 127.0.0.1: this machine only)");
  sub->add_option("--port", o->port, "port (default 8080; 0: any free port)");
  sub->add_option("--parallel", o->parallel, "sequences generated together (default 4)")->check(CLI::Range(1, 256));
  sub->add_option("-c,--ctx", o->context, "context size per sequence in tokens (default 4096)")->check(CLI::Range(16, 1 << 20));
  sub->add_option("-t,--threads", o->n_threads, "threads (default: one per hardware thread)");
  sub->add_option("--max-queue", o->max_queue, "requests that may wait for a slot; more get 503 (default 64)")
      ->check(CLI::Range(0, 100000));
  sub->add_option("-b,--batch", o->batch_tokens, "most tokens in one forward pass (default 512)")->check(CLI::Range(1, 65536));
  sub->add_option("--ctx-checkpoints", o->checkpoints,
                  "sliding-window checkpoints kept per sequence for prompt reuse (default 8)")
      ->check(CLI::Range(0, 1024));
  sub->add_option("-n,--max-tokens", o->default_max_tokens,
                  "tokens generated when a request sets no max_tokens (default -1: until the context is full)");
  sub->add_option("--kv-type", o->kv_type, "KV cache entries: f16 (default), bf16, q8_0 or f32");
  sub->add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY' on /v1/ endpoints");
  AddMmprojFlags(sub, &args->mmproj);
  sub->add_flag("--allow-remote-media", args->allow_remote_media,
                "fetch http(s) image and video URLs of requests (off: only data URLs are accepted)");
  sub->add_option("--max-body", o->max_body_bytes,
                  "largest request body, and largest remote media file, in bytes; K/M/G suffixes allowed (default "
                  "64M; larger bodies get 413)")
      ->transform(CLI::AsSizeValue(false));
  sub->add_flag("!--no-log", o->log_requests, "do not log one line per request on stderr");
  return [args] { return Serve(*args); };
}

}  // namespace g4::cli
