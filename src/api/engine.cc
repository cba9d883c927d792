// The public API: thin wrappers that turn internal g4::Error exceptions into Status values.
#include "g4/engine.h"

#include "base/error.h"
#include "model/gemma4_text.h"
#include "model/gguf.h"
#include "model/mmproj.h"
#include "model/model.h"

namespace g4 {

namespace {
template <typename Fn>
Status Guard(Fn&& fn) {
  try {
    fn();
    return Status::Ok();
  } catch (const Error& e) {
    return Status::Error(e.what());
  } catch (const std::bad_alloc&) {
    return Status::Error("out of memory");
  }
}
}  // namespace

LoadedModel::~LoadedModel() = default;

Status LoadedModel::Load(const std::string& path, std::unique_ptr<LoadedModel>* out) {
  return Load(path, LoadOptions{}, out);
}

Status LoadedModel::Load(const std::string& path, const LoadOptions& options, std::unique_ptr<LoadedModel>* out) {
  return Guard([&] {
    std::unique_ptr<LoadedModel> m(new LoadedModel());
    m->model_ = Model::Load(path);
    std::unique_ptr<MultimodalTowers> towers = options.mmproj_path.empty()
                                                   ? MultimodalTowers::FromModel(*m->model_)
                                                   : MultimodalTowers::LoadMmproj(options.mmproj_path);
    if (towers->vision() != nullptr || towers->audio() != nullptr) {
      towers->CheckTextWidth(m->model_->config().d_model, m->model_->path());
      m->towers_ = std::move(towers);
    }
    *out = std::move(m);
  });
}

bool LoadedModel::has_vision() const { return towers_ != nullptr && towers_->vision() != nullptr; }
bool LoadedModel::has_audio() const { return towers_ != nullptr && towers_->audio() != nullptr; }

ModelSummary LoadedModel::Summary() const {
  const ModelConfig& c = model_->config();
  ModelSummary s;
  s.path = model_->path();
  s.format = model_->format() == ModelFormat::kGguf ? "gguf" : "safetensors";
  s.architecture = "gemma4";
  s.variant = c.variant;
  s.n_layers = c.n_layers;
  s.d_model = c.d_model;
  s.vocab_size = c.vocab_size;
  s.context_length = c.context_length;
  s.sliding_window = c.sliding_window;
  s.ple_dim = c.ple_dim;
  s.n_experts = c.n_experts;
  s.n_experts_used = c.n_experts_used;
  s.expert_ff_dim = c.expert_ff_dim;
  s.first_kv_shared_layer = c.first_kv_shared_layer;
  s.final_softcap = c.final_softcap;
  for (const LayerSpec& l : c.layers) {
    LayerSummary ls;
    ls.attention = AttentionKindName(l.kind);
    ls.n_heads = l.n_heads;
    ls.n_kv_heads = l.n_kv_heads;
    ls.head_dim = l.head_dim;
    ls.window = l.window;
    ls.rope_pairs = c.RopeOf(l).rotated_pairs();
    ls.owns_kv = l.owns_kv;
    ls.kv_source = l.kv_source;
    ls.keys_as_values = l.keys_as_values;
    ls.ff_dim = l.ff_dim;
    ls.moe = l.has_moe;
    s.layers.push_back(ls);
  }
  s.text_parameters = model_->TextParameterCount();
  s.text_weight_bytes = model_->TextWeightBytes();
  for (const TensorView* t : model_->AllTensors()) {
    if (Model::IsMultimodalTensor(t->name)) {
      ++s.multimodal_tensors;
      continue;
    }
    TensorTypeCount& tc = s.tensor_types[std::string(DTypeName(t->type))];
    ++tc.tensors;
    tc.elements += t->n_elements();
    tc.bytes += t->nbytes;
  }
  return s;
}

uint64_t LoadedModel::KvCacheBytes(int64_t context, const std::string& kv_type) const {
  return KvCache::BytesAtContext(model_->config(), context, ParseKvType(kv_type));
}

int LoadedModel::vocab_size() const { return model_->config().vocab_size; }
int LoadedModel::context_length() const { return model_->config().context_length; }

Session::~Session() = default;

Status Session::Create(const LoadedModel& model, const SessionConfig& config, std::unique_ptr<Session>* out) {
  return Guard([&] {
    if (config.context < 0) Fail("context size ", config.context, " is negative");
    std::unique_ptr<Session> s(new Session());
    SessionOptions options;
    options.max_context = config.context;
    options.n_threads = config.n_threads;
    options.kv_type = ParseKvType(config.kv_type);
    s->impl_ = std::make_unique<Gemma4Session>(model.internal(), options);
    *out = std::move(s);
  });
}

Status Session::Eval(const std::vector<int32_t>& tokens, bool all_positions, std::vector<float>* logits) {
  return Guard([&] { impl_->Eval(tokens.data(), static_cast<int64_t>(tokens.size()), all_positions, logits); });
}

int64_t Session::n_past() const { return impl_->n_past(); }
void Session::Reset() { impl_->Reset(); }

}  // namespace g4
