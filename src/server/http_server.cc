// g4::Server: cpp-httplib routes over the batch scheduler, with API-key checks, body limits,
// OpenAI-shaped errors, /health while loading and Prometheus /metrics.
#include "g4/server.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <thread>

#include <httplib.h>

#include "base/error.h"
#include "model/model.h"
#include "server/endpoints.h"
#include "server/scheduler.h"

namespace g4 {

using nlohmann::json;

extern const std::string_view kWebChatPage;  // src/server/web/index.html, embedded at build time

struct Server::Impl {
  ServerOptions options;
  httplib::Server http;
  int port = 0;
  std::atomic<bool> ready{false};
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<BatchScheduler> scheduler;
  // Media encoded for earlier requests, by content: a conversation resends its images at every
  // turn, and they are encoded once.
  MediaCache media_cache{16};
  EndpointContext ctx;
  int64_t created = 0;
  std::mutex metrics_mutex;
  std::map<std::pair<std::string, int>, uint64_t> responses;  // (path, status) -> count

  void Routes();
  bool Authorized(const httplib::Request& req) const;
  std::string Metrics();
};

namespace {

std::string ModelIdFor(const ServerOptions& o) {
  if (!o.model_name.empty()) return o.model_name;
  std::filesystem::path p(o.model_path);
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

template <typename Fn>
Status GuardStatus(Fn&& fn) {
  try {
    fn();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Error(e.what());
  }
}

// httplib's stop() does nothing before the listening loop has started: wait for it (briefly).
void StopListening(httplib::Server& http) {
  for (int i = 0; i < 500 && !http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  http.stop();
}

}  // namespace

bool Server::Impl::Authorized(const httplib::Request& req) const {
  if (options.api_key.empty()) return true;
  const std::string auth = req.get_header_value("Authorization");
  const std::string expected = "Bearer " + options.api_key;
  // Compare every byte so the time taken does not tell how much of the key was right.
  if (auth.size() != expected.size()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < auth.size(); ++i) diff |= static_cast<unsigned char>(auth[i] ^ expected[i]);
  return diff == 0;
}

void Server::Impl::Routes() {
  http.set_payload_max_length(options.max_body_bytes);
  const int workers = options.parallel + options.max_queue + 8;
  http.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http.set_read_timeout(30, 0);
  http.set_write_timeout(30, 0);

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const bool api = req.path.rfind("/v1/", 0) == 0;
    if (api && !Authorized(req)) {
      SendError(res, 401, "missing or wrong API key: send 'Authorization: Bearer KEY'", "", "invalid_api_key");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (api && req.path != "/v1/models" && !ready) {
      res.set_header("Retry-After", "5");
      SendError(res, 503, "the model is still loading", "", "model_loading");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      SendError(res, 404, "no such endpoint: " + req.method + " " + req.path);
    } else if (res.status == 413) {
      SendError(res, 413, "the request body is larger than the server accepts");
    } else {
      SendError(res, res.status, Concat("HTTP status ", res.status));
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, 500, what);
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(metrics_mutex);
      ++responses[{req.path, res.status}];
    }
    if (options.log_requests) std::fprintf(stderr, "%s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
  });

  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleChatCompletions(ctx, req, res);
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleCompletions(ctx, req, res);
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json model = {{"id", ctx.model_id}, {"object", "model"}, {"created", created}, {"owned_by", "g4"}};
    if (ready) {
      model["meta"] = {{"context", scheduler->context()}, {"parallel", options.parallel}};
      // What the model takes besides text (Ollama reports "capabilities" the same way).
      json capabilities = json::array({"completion"});
      if (ctx.loaded->has_vision()) capabilities.push_back("vision");
      if (ctx.loaded->has_audio()) capabilities.push_back("audio");
      model["capabilities"] = capabilities;
    }
    res.set_content(json({{"object", "list"}, {"data", json::array({model})}}).dump(), "application/json");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kWebChatPage.data(), kWebChatPage.size(), "text/html; charset=utf-8");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.status = ready ? 200 : 503;
    res.set_content(json({{"status", ready ? "ok" : "loading"}}).dump(), "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(Metrics(), "text/plain; version=0.0.4");
  });
}

std::string Server::Impl::Metrics() {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out += Concat("# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ", value, "\n");
  };
  const SchedulerStats s = ready ? scheduler->Stats() : SchedulerStats{};
  metric("g4_ready", "gauge", "1 once the model is loaded", ready ? 1 : 0);
  metric("g4_requests_total", "counter", "generation requests accepted", static_cast<double>(s.requests));
  metric("g4_requests_rejected_total", "counter", "requests refused because the queue was full",
         static_cast<double>(s.rejected));
  metric("g4_requests_active", "gauge", "sequences being generated", s.active);
  metric("g4_queue_depth", "gauge", "requests waiting for a slot", s.queued);
  metric("g4_slots", "gauge", "sequences that can run at once", s.slots);
  metric("g4_prompt_tokens_total", "counter", "prompt tokens evaluated", static_cast<double>(s.prompt_tokens));
  metric("g4_prompt_tokens_reused_total", "counter", "prompt tokens taken from a cached prefix",
         static_cast<double>(s.reused_tokens));
  metric("g4_generated_tokens_total", "counter", "tokens generated", static_cast<double>(s.generated_tokens));
  metric("g4_prefill_tokens_per_second", "gauge", "prompt tokens per second of prefill time",
         s.prefill_seconds > 0 ? s.prompt_tokens / s.prefill_seconds : 0);
  metric("g4_decode_tokens_per_second", "gauge", "generated tokens per second of decode time",
         s.decode_seconds > 0 ? s.generated_tokens / s.decode_seconds : 0);
  metric("g4_kv_cache_bytes", "gauge", "KV cache and checkpoint memory in use", static_cast<double>(s.kv_bytes));
  out += "# HELP g4_http_responses_total HTTP responses by path and status\n# TYPE g4_http_responses_total counter\n";
  std::lock_guard<std::mutex> lock(metrics_mutex);
  for (const auto& [key, count] : responses) {
    out += Concat("g4_http_responses_total{path=\"", key.first, "\",status=\"", key.second, "\"} ", count, "\n");
  }
  return out;
}

Server::~Server() = default;

Status Server::Create(const ServerOptions& options, std::unique_ptr<Server>* out) {
  return GuardStatus([&] {
    if (options.model_path.empty()) Fail("no model given (-m PATH)");
    if (options.parallel < 1 || options.parallel > 256) Fail("--parallel must be in [1, 256], not ", options.parallel);
    if (options.max_queue < 0) Fail("--max-queue must not be negative");
    std::unique_ptr<Server> s(new Server());
    s->impl_ = std::make_unique<Impl>();
    Impl& impl = *s->impl_;
    impl.options = options;
    impl.ctx.model_id = ModelIdFor(options);
    impl.ctx.default_max_tokens = options.default_max_tokens;
    impl.ctx.fetch_remote_media = options.fetch_remote_media;
    impl.created = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
    impl.Routes();
    if (options.port == 0) {
      impl.port = impl.http.bind_to_any_port(options.host);
    } else {
      impl.port = impl.http.bind_to_port(options.host, options.port) ? options.port : -1;
    }
    if (impl.port < 0) Fail("cannot listen on ", options.host, ":", options.port, " (in use, or not an address here)");
    *out = std::move(s);
  });
}

int Server::port() const { return impl_->port; }

Status Server::Run() {
  Impl& impl = *impl_;
  Status load_status = Status::Ok();
  std::thread loader([&] {
    load_status = GuardStatus([&] {
      LoadOptions load;
      load.mmproj_path = impl.options.mmproj_path;
      const Status st = LoadedModel::Load(impl.options.model_path, load, &impl.model);
      if (!st.ok()) Fail(st.message());
      SchedulerOptions so;
      so.parallel = impl.options.parallel;
      so.context = impl.options.context;
      so.n_threads = impl.options.n_threads;
      so.max_queue = impl.options.max_queue;
      so.batch_tokens = impl.options.batch_tokens;
      so.checkpoints = impl.options.checkpoints;
      so.kv_type = ParseKvType(impl.options.kv_type);
      const Model& text = impl.model->internal();
      impl.scheduler = std::make_unique<BatchScheduler>(text, text.tokenizer(), so);
      impl.ctx.loaded = impl.model.get();
      impl.ctx.media = {impl.model->towers(), impl.options.n_threads, &impl.media_cache};
      impl.ctx.model = &text;
      impl.ctx.scheduler = impl.scheduler.get();
      impl.ready = true;
    });
    if (!load_status.ok()) StopListening(impl.http);
  });
  impl.http.listen_after_bind();
  loader.join();
  if (!load_status.ok()) return load_status;
  // Finish the generations in flight before the scheduler goes away.
  impl.ready = false;
  impl.scheduler.reset();
  return Status::Ok();
}

void Server::Stop() { StopListening(impl_->http); }

}  // namespace g4
