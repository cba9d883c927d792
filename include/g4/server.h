// libg4 HTTP server: an OpenAI-compatible API (chat completions, completions, models) with
// streaming, tools, JSON output, continuous batching and prompt reuse, plus /health and
// /metrics. The `g4 serve` command is a thin layer over this.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "g4/engine.h"

namespace g4 {

struct ServerOptions {
  std::string model_path;
  std::string mmproj_path;       // vision/audio encoders (mmproj GGUF); empty: the model's own, if any
  std::string model_name;        // id reported by /v1/models (default: the file name)
  std::string host = "127.0.0.1";
  int port = 8080;               // 0: any free port (see Server::port())
  int parallel = 4;              // sequences decoded together
  int context = 4096;            // tokens per sequence
  int n_threads = 0;             // 0: one per hardware thread
  int max_queue = 64;            // requests waiting beyond `parallel`; more get 503
  int batch_tokens = 512;        // most tokens per forward pass
  int checkpoints = 8;           // sliding-window checkpoints per sequence, for prompt reuse
  int default_max_tokens = -1;   // for requests that set none (-1: until the context is full)
  std::string kv_type = "f16";   // KV cache entries: f32, f16, bf16 or q8_0
  std::string api_key;           // empty: no authentication
  size_t max_body_bytes = 64u << 20;  // room for a few images or short clips as base64; more gets 413
  // Fetches an http(s) media URL of a request and returns it as a data URL; an error fails the
  // request with a 400 naming the part. Unset: remote media URLs are refused (400).
  std::function<Status(const std::string& url, std::string* data_url)> fetch_remote_media;
  bool log_requests = true;      // one line per request on stderr
};

class Server {
 public:
  // Binds the address (so a port clash fails here) but loads nothing yet.
  static Status Create(const ServerOptions& options, std::unique_ptr<Server>* out);
  ~Server();

  // Loads the model (health says "loading" meanwhile) and serves until Stop(). Returns an
  // error if the model cannot be loaded.
  Status Run();
  void Stop();
  int port() const;

 private:
  struct Impl;
  Server() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace g4
