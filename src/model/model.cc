#include "model/model.h"

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"

namespace g4 {

Model::~Model() = default;

namespace {

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The name prefix of text-decoder tensors in an HF checkpoint.
std::string HfTextPrefix(const HfCheckpoint& hf) {
  for (const char* prefix : {"model.language_model.", "model."}) {
    if (hf.Find(std::string(prefix) + "embed_tokens.weight") != nullptr) return prefix;
  }
  Fail(hf.dir(), ": no token embedding tensor found (looked for 'model.language_model.embed_tokens.weight' and ",
       "'model.embed_tokens.weight')");
}

}  // namespace

bool Model::IsMultimodalTensor(const std::string& name) {
  for (const char* marker : {"vision_tower", "audio_tower", "embed_vision", "embed_audio", "multi_modal_projector"}) {
    if (name.find(marker) != std::string::npos) return true;
  }
  return name.rfind("v.", 0) == 0 || name.rfind("a.", 0) == 0 || name.rfind("mm.", 0) == 0;
}

std::unique_ptr<Model> Model::Load(const std::string& path_in) {
  std::unique_ptr<Model> m(new Model());
  std::string path = path_in;
  if (!IsDirectory(path) && EndsWith(path, "config.json")) {
    const size_t slash = path.find_last_of('/');
    path = slash == std::string::npos ? "." : path.substr(0, slash);
  }
  m->path_ = path;
  if (IsDirectory(path)) {
    m->format_ = ModelFormat::kHuggingFace;
    m->hf_ = HfCheckpoint::Open(path);
    m->config_ = ModelConfig::FromHfConfig(m->hf_->config(), m->hf_->config_path());
    const std::string prefix = HfTextPrefix(*m->hf_);
    const HfCheckpoint* hf = m->hf_.get();
    m->weights_ = BindHfWeights([hf](const std::string& n) { return hf->Find(n); }, prefix, &m->config_, path);
    return m;
  }

  std::ifstream probe(path, std::ios::binary);
  if (!probe) Fail(path, ": cannot open: ", std::strerror(errno));
  char magic[4] = {0, 0, 0, 0};
  probe.read(magic, 4);
  if (probe.gcount() < 4 || std::memcmp(magic, "GGUF", 4) != 0) {
    Fail(path, ": not a GGUF file (it does not start with the bytes 'GGUF'); for a Hugging Face checkpoint, ",
         "pass its folder");
  }
  m->format_ = ModelFormat::kGguf;
  m->gguf_ = GgufFile::Open(path);
  std::vector<float> rope_freqs;
  if (const TensorView* rf = m->gguf_->FindTensor("rope_freqs.weight")) rope_freqs = TensorToFloats(*rf);
  m->config_ = ModelConfig::FromGguf(*m->gguf_, rope_freqs);
  const GgufFile* g = m->gguf_.get();
  m->weights_ = BindGgufWeights([g](const std::string& n) { return g->FindTensor(n); }, &m->config_, path);
  return m;
}

const Tokenizer& Model::tokenizer() const {
  std::call_once(tokenizer_once_, [this] {
    if (gguf_) {
      tokenizer_ = Tokenizer::FromGguf(*gguf_);
    } else {
      const std::string json_path = path_ + "/tokenizer.json";
      struct stat st {};
      if (::stat(json_path.c_str(), &st) != 0) {
        Fail(path_, ": no tokenizer.json in the checkpoint folder (needed to turn text into tokens)");
      }
      tokenizer_ = Tokenizer::FromHfJson(json_path);
    }
  });
  return *tokenizer_;
}

std::vector<const TensorView*> Model::AllTensors() const {
  std::vector<const TensorView*> out;
  if (gguf_) {
    for (const TensorView& t : gguf_->tensors()) out.push_back(&t);
  } else {
    out = hf_->tensors();
  }
  return out;
}

int64_t Model::TextParameterCount() const {
  int64_t n = 0;
  for (const TensorView* t : AllTensors()) {
    if (!IsMultimodalTensor(t->name)) n += t->n_elements();
  }
  return n;
}

size_t Model::TextWeightBytes() const {
  size_t n = 0;
  for (const TensorView* t : AllTensors()) {
    if (!IsMultimodalTensor(t->name)) n += t->nbytes;
  }
  return n;
}

}  // namespace g4
