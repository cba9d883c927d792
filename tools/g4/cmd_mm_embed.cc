// g4 mm-embed: run a multimodal encoder on one input and write its output embeddings (GME1
// format), for checking the encoders against reference implementations.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "commands.h"
#include "base/mapped_file.h"
#include "io/gme.h"
#include "media/audio.h"
#include "media/image.h"
#include "media/image_resize.h"
#include "media/log_mel.h"
#include "model/gemma4_audio.h"
#include "model/gemma4_vision.h"
#include "model/mmproj.h"
#include "model/model.h"

namespace g4::cli {
namespace {

struct MmEmbedArgs {
  std::string model;
  std::string mmproj;
  std::string image;
  bool as_is = false;
  int image_tokens = kDefaultImageTokens;
  std::string audio;
  std::string mel;
  std::string pcm;
  std::string output;
  int threads = 0;
};

// The towers: from --mmproj, else from inside the text model (Hugging Face checkpoints).
std::unique_ptr<MultimodalTowers> LoadTowers(const MmEmbedArgs& args, const Model& text, bool vision) {
  std::unique_ptr<MultimodalTowers> towers =
      args.mmproj.empty() ? MultimodalTowers::FromModel(text) : MultimodalTowers::LoadMmproj(args.mmproj);
  const bool found = vision ? towers->vision() != nullptr : towers->audio() != nullptr;
  if (!found) {
    Fail(towers->source(), ": no ", vision ? "vision" : "audio", " tower",
         args.mmproj.empty() ? "; pass the matching mmproj file with --mmproj" : "");
  }
  towers->CheckTextWidth(text.config().d_model, text.path());
  return towers;
}

// A raw float32 file (log-mel frames or PCM samples).
std::vector<float> ReadFloat32File(const std::string& path, int64_t multiple) {
  std::shared_ptr<MappedFile> file = MappedFile::Open(path);
  if (file->size() == 0 || file->size() % (4 * multiple) != 0) {
    Fail(path, ": ", file->size(), " bytes is not a whole number of float32 ",
         multiple > 1 ? Concat("frames of ", multiple, " values") : std::string("samples"));
  }
  std::vector<float> values(file->size() / 4);
  std::memcpy(values.data(), file->data(), file->size());
  return values;
}

void EmbedAudio(const MmEmbedArgs& args, EmbeddingsFile* out) {
  std::unique_ptr<Model> text = Model::Load(args.model);
  std::unique_ptr<MultimodalTowers> towers = LoadTowers(args, *text, /*vision=*/false);
  Gemma4AudioEncoder encoder(*towers->audio(), args.threads);
  const int64_t n_mel = encoder.config().n_mel;
  const std::vector<float> input = !args.mel.empty()   ? ReadFloat32File(args.mel, n_mel)
                                   : !args.pcm.empty() ? ReadFloat32File(args.pcm, 1)
                                                       : DecodeAudioFile(args.audio).samples;
  const auto start = std::chrono::steady_clock::now();
  AudioEmbeddings embeddings;
  if (args.mel.empty()) {
    embeddings = encoder.EncodePcm(input.data(), static_cast<int64_t>(input.size()));
    out->in_nx = static_cast<int32_t>(LogMelFrames(static_cast<int64_t>(input.size())));
    out->src_a = static_cast<int32_t>(input.size());
  } else {
    embeddings = encoder.Encode(input.data(), static_cast<int64_t>(input.size()) / n_mel);
    out->in_nx = static_cast<int32_t>(input.size() / n_mel);
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  out->modality = GmeModality::kAudio;
  out->in_ny = static_cast<int32_t>(n_mel);
  out->src_b = kAudioSampleRate;
  out->n_tokens = static_cast<int32_t>(embeddings.n_tokens);
  out->n_embd = static_cast<int32_t>(embeddings.width);
  out->embd = std::move(embeddings.data);
  std::fprintf(stderr, "g4 mm-embed: %d mel frames -> %d tokens x %d in %.1f ms\n", out->in_nx, out->n_tokens,
               out->n_embd, ms);
}

void EmbedImage(const MmEmbedArgs& args, EmbeddingsFile* out) {
  std::unique_ptr<Model> text = Model::Load(args.model);
  std::unique_ptr<MultimodalTowers> towers = LoadTowers(args, *text, /*vision=*/true);
  const Image original = DecodeImageFile(args.image);
  Gemma4VisionEncoder encoder(*towers->vision(), args.threads);
  const Image image = args.as_is ? original
                                 : PrepareImageForVision(original, args.image_tokens,
                                                         static_cast<int>(encoder.side_multiple()));
  const auto start = std::chrono::steady_clock::now();
  VisionEmbeddings embeddings = encoder.Encode(image);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  out->n_tokens = static_cast<int32_t>(embeddings.n_tokens);
  out->n_embd = static_cast<int32_t>(embeddings.width);
  out->modality = GmeModality::kImage;
  out->in_nx = image.width;
  out->in_ny = image.height;
  out->src_a = original.width;
  out->src_b = original.height;
  out->embd = std::move(embeddings.data);
  std::fprintf(stderr, "g4 mm-embed: %dx%d image -> %d tokens x %d in %.1f ms\n", image.width, image.height,
               out->n_tokens, out->n_embd, ms);
}

int RunMmEmbed(const MmEmbedArgs& args) {
  try {
    if (args.image.empty() + args.audio.empty() + args.mel.empty() + args.pcm.empty() != 3) {
      Fail("give exactly one input: --image, --audio, --mel or --pcm");
    }
    EmbeddingsFile out;
    if (!args.image.empty()) {
      EmbedImage(args, &out);
    } else {
      EmbedAudio(args, &out);
    }
    WriteGme(args.output, out);
    std::fprintf(stderr, "g4 mm-embed: wrote %s\n", args.output.c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "g4 mm-embed: %s\n", e.what());
    return 1;
  }
}

}  // namespace

Runner AddMmEmbedCommand(CLI::App& app) {
  auto args = std::make_shared<MmEmbedArgs>();
  CLI::App* sub =
      app.add_subcommand("mm-embed", "Encode an image or audio clip and write its soft-token embeddings (GME1 file)");
  sub->add_option("-m,--model", args->model, "text model: GGUF file or Hugging Face checkpoint folder")->required();
  sub->add_option("--mmproj", args->mmproj, "mmproj GGUF file with the encoders (GGUF text models need one)");
  sub->add_option("--image", args->image, "image file (PNG, JPEG, WebP, GIF, BMP)");
  sub->add_flag("--as-is", args->as_is, "encode the image's pixels without resizing (sides must be multiples of 48)");
  sub->add_option("--image-tokens", args->image_tokens,
                  "soft-token budget the image is resized to (70, 140, 280, 560, 1120; not with --as-is)");
  sub->add_option("--audio", args->audio, "audio file (WAV, FLAC, MP3, OGG, M4A, ...), mixed to mono at 16 kHz");
  sub->add_option("--mel", args->mel, "log-mel file: float32 frames of 128 values (frame-major)");
  sub->add_option("--pcm", args->pcm, "raw float32 mono PCM at 16 kHz (log-mel computed as Hugging Face does)");
  sub->add_option("-o,--output", args->output, "output GME1 file")->required();
  sub->add_option("-t,--threads", args->threads, "threads (default: all cores)");
  return [args] { return RunMmEmbed(*args); };
}

}  // namespace g4::cli
