#include "api/media_prompt.h"

#include <algorithm>
#include <map>

#include "api/media_input.h"
#include "base/error.h"
#include "media/audio.h"
#include "media/image.h"
#include "media/image_resize.h"
#include "media/video.h"
#include "model/gemma4_audio.h"
#include "model/gemma4_text.h"
#include "model/gemma4_vision.h"
#include "model/mmproj.h"

namespace g4 {

namespace {

using nlohmann::json;

// Spec §4.6: every video frame is encoded with the 70-token budget.
constexpr int kVideoFrameTokens = 70;

const VisionTower& RequireVision(const MediaEncoders& encoders, const std::string& where) {
  if (encoders.towers == nullptr || encoders.towers->vision() == nullptr) {
    Fail(where, ": this model has no vision encoder; load one with --mmproj");
  }
  return *encoders.towers->vision();
}

const AudioTower& RequireAudio(const MediaEncoders& encoders, const std::string& where) {
  if (encoders.towers == nullptr || encoders.towers->audio() == nullptr) {
    Fail(where, ": this model has no audio encoder (Gemma 4 E2B and E4B have one); load one with --mmproj");
  }
  return *encoders.towers->audio();
}

MediaBlock VisionBlock(Gemma4VisionEncoder& encoder, const Image& image, int budget) {
  const Image prepared = PrepareImageForVision(image, budget, static_cast<int>(encoder.side_multiple()));
  VisionEmbeddings e = encoder.Encode(prepared);
  MediaBlock block;
  block.vision = true;
  block.n_tokens = e.n_tokens;
  block.rows = std::move(e.data);
  return block;
}

// One block per 30 s chunk, each encoded on its own (spec §5.5).
std::vector<MediaBlock> AudioBlocks(Gemma4AudioEncoder& encoder, const std::vector<float>& samples) {
  std::vector<MediaBlock> blocks;
  const int64_t n = static_cast<int64_t>(samples.size());
  for (int64_t start = 0; start < n; start += Gemma4AudioEncoder::kChunkSamples) {
    const int64_t count = std::min(Gemma4AudioEncoder::kChunkSamples, n - start);
    AudioEmbeddings e = encoder.EncodePcm(samples.data() + start, count);
    MediaBlock block;
    block.vision = false;
    block.n_tokens = e.n_tokens;
    block.rows = std::move(e.data);
    blocks.push_back(std::move(block));
  }
  return blocks;
}

// Frames with their "MM:SS " stamps (joined by single spaces, §4.6); with `audio`, the
// soundtrack's chunk c follows the last frame before 30·(c+1) seconds.
std::vector<MediaBlock> VideoBlocks(Gemma4VisionEncoder& vision, Gemma4AudioEncoder* audio, const VideoClip& clip,
                                    const Tokenizer& tokenizer) {
  std::vector<MediaBlock> audio_blocks;
  if (audio != nullptr && clip.audio && !clip.audio->samples.empty()) {
    audio_blocks = AudioBlocks(*audio, clip.audio->samples);
  }
  const double chunk_seconds = static_cast<double>(Gemma4AudioEncoder::kChunkSamples) / 16000.0;
  std::vector<MediaBlock> blocks;
  size_t next_audio = 0;
  for (size_t f = 0; f < clip.frames.size(); ++f) {
    const VideoFrame& frame = clip.frames[f];
    // Chunks whose time span ended before this frame go first.
    while (next_audio < audio_blocks.size() && frame.seconds >= chunk_seconds * static_cast<double>(next_audio + 1)) {
      blocks.push_back(std::move(audio_blocks[next_audio++]));
    }
    MediaBlock block = VisionBlock(vision, frame.image, kVideoFrameTokens);
    const std::string stamp = (f == 0 ? "" : " ") + VideoTimestamp(frame.seconds) + " ";
    block.text_before = tokenizer.Encode(stamp, /*parse_special=*/false);
    blocks.push_back(std::move(block));
  }
  while (next_audio < audio_blocks.size()) blocks.push_back(std::move(audio_blocks[next_audio++]));
  return blocks;
}

EncodedMedia Encode(const MediaBytes& bytes, const ChatRequest& request, const MediaEncoders& encoders,
                    const Tokenizer& tokenizer) {
  const std::string& where = bytes.what;
  EncodedMedia media;
  media.type = bytes.type;
  switch (bytes.type) {
    // Each case checks for its tower, decodes, and only then starts an encoder (and its threads),
    // so undecodable media cost no thread pool. The decoders never return an empty clip.
    case ContentPartType::kImage: {
      const VisionTower& tower = RequireVision(encoders, where);
      const Image image = DecodeImage(bytes.data.data(), bytes.data.size(), where);
      Gemma4VisionEncoder encoder(tower, encoders.n_threads);
      media.blocks.push_back(VisionBlock(encoder, image, request.image_tokens));
      break;
    }
    case ContentPartType::kAudio: {
      const AudioTower& tower = RequireAudio(encoders, where);
      const AudioClip clip = DecodeAudio(bytes.data.data(), bytes.data.size(), where);
      Gemma4AudioEncoder encoder(tower, encoders.n_threads);
      media.blocks = AudioBlocks(encoder, clip.samples);
      break;
    }
    case ContentPartType::kVideo: {
      const VisionTower& tower = RequireVision(encoders, where);
      const bool with_audio = encoders.towers->audio() != nullptr;
      VideoOptions options;
      options.max_frames = request.video_frames;
      options.with_audio = with_audio;
      const VideoClip clip = DecodeVideo(bytes.data.data(), bytes.data.size(), where, options);
      Gemma4VisionEncoder vision(tower, encoders.n_threads);
      std::unique_ptr<Gemma4AudioEncoder> audio;
      if (with_audio) audio = std::make_unique<Gemma4AudioEncoder>(*encoders.towers->audio(), encoders.n_threads);
      media.blocks = VideoBlocks(vision, audio.get(), clip, tokenizer);
      break;
    }
    default:
      Fail(where, ": not a media part");
  }
  return media;
}

// Error messages of the decoders and encoders start with the part's path; others get it.
[[noreturn]] void Rethrow(const std::string& where, const Error& e) {
  const std::string message = e.what();
  if (message.rfind(where, 0) == 0) throw;
  Fail(where, ": ", message);
}

}  // namespace

MediaTokenIds MediaTokenIds::FromTokenizer(const Tokenizer& tokenizer) {
  auto id = [&](std::string_view piece) { return tokenizer.Find(piece).value_or(-1); };
  MediaTokenIds ids;
  ids.image_placeholder = id("<|image|>");
  ids.audio_placeholder = id("<|audio|>");
  ids.video_placeholder = id("<|video|>");
  ids.image_begin = id("<|image>");
  ids.image_end = id("<image|>");
  ids.audio_begin = id("<|audio>");
  ids.audio_end = id("<audio|>");
  return ids;
}

std::shared_ptr<const EncodedMedia> MediaCache::Find(uint64_t key) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (it->first != key) continue;
    items_.splice(items_.begin(), items_, it);
    ++hits_;
    return items_.front().second;
  }
  return nullptr;
}

void MediaCache::Insert(uint64_t key, std::shared_ptr<const EncodedMedia> media) {
  std::lock_guard<std::mutex> lock(mutex_);
  items_.emplace_front(key, std::move(media));
  while (items_.size() > capacity_) items_.pop_back();
}

uint64_t MediaCache::hits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return hits_;
}

std::shared_ptr<const EncodedMedia> EncodeMediaPart(const json& part, const std::string& where,
                                                    const ChatRequest& request, const MediaEncoders& encoders,
                                                    const Tokenizer& tokenizer) {
  try {
    const MediaBytes bytes = ReadMediaPart(part, where, request.allow_file_urls);
    if (encoders.cache == nullptr) {
      return std::make_shared<const EncodedMedia>(Encode(bytes, request, encoders, tokenizer));
    }
    // What the encoding depends on besides the bytes: the kind and the budgets.
    const uint64_t settings = (static_cast<uint64_t>(bytes.type) << 40) ^
                              (static_cast<uint64_t>(request.image_tokens) << 20) ^
                              static_cast<uint64_t>(request.video_frames);
    const uint64_t key = ContentHash(bytes.data.data(), bytes.data.size(), settings);
    if (auto hit = encoders.cache->Find(key)) return hit;
    auto media = std::make_shared<const EncodedMedia>(Encode(bytes, request, encoders, tokenizer));
    encoders.cache->Insert(key, media);
    return media;
  } catch (const Error& e) {
    Rethrow(where, e);
  }
}

void ExpandMediaPlaceholders(const std::vector<int32_t>& ids,
                             const std::vector<std::shared_ptr<const EncodedMedia>>& media,
                             const MediaTokenIds& marks, int64_t width, std::vector<int32_t>* expanded,
                             SoftTokens* soft) {
  expanded->clear();
  *soft = SoftTokens{};
  soft->width = width;
  size_t next = 0;
  for (const int32_t id : ids) {
    const bool placeholder = id >= 0 && (id == marks.image_placeholder || id == marks.audio_placeholder ||
                                         id == marks.video_placeholder);
    if (!placeholder) {
      expanded->push_back(id);
      continue;
    }
    if (next >= media.size()) Fail("the prompt has more media placeholders than media (", media.size(), ")");
    const EncodedMedia& item = *media[next++];
    const int32_t expected = item.type == ContentPartType::kImage   ? marks.image_placeholder
                             : item.type == ContentPartType::kAudio ? marks.audio_placeholder
                                                                    : marks.video_placeholder;
    if (id != expected) Fail("media placeholder ", next - 1, " does not match the kind of its media");
    for (const MediaBlock& block : item.blocks) {
      const int32_t begin = block.vision ? marks.image_begin : marks.audio_begin;
      const int32_t end = block.vision ? marks.image_end : marks.audio_end;
      if (begin < 0 || end < 0) Fail("the vocabulary has no ", block.vision ? "<|image>/<image|>" : "<|audio>/<audio|>", " tokens");
      G4_CHECK(static_cast<int64_t>(block.rows.size()) == block.n_tokens * width, "media block of the wrong width");
      expanded->insert(expanded->end(), block.text_before.begin(), block.text_before.end());
      expanded->push_back(begin);
      expanded->insert(expanded->end(), block.n_tokens, kSoftToken);
      expanded->push_back(end);
      const uint64_t key = ContentHash(block.rows.data(), block.rows.size() * sizeof(float), block.vision ? 1 : 2);
      soft->Append(block.rows.data(), block.n_tokens, key, block.vision);
    }
  }
  if (next != media.size()) Fail("the prompt has ", next, " media placeholders but ", media.size(), " media");
}

void ResolveRequestMedia(const ChatRequest& request, const std::vector<std::string>& media_sources,
                         const MediaEncoders& encoders, const Tokenizer& tokenizer, int64_t width,
                         std::vector<int32_t>* ids, SoftTokens* soft) {
  // Every media part of the request, by path; each must have been rendered.
  std::map<std::string, const json*> parts;
  for (size_t i = 0; i < request.messages.size(); ++i) {
    const json& message = request.messages[i];
    const auto content = message.is_object() ? message.find("content") : message.end();
    if (content == message.end() || !content->is_array()) continue;
    for (size_t j = 0; j < content->size(); ++j) {
      const json& part = (*content)[j];
      const auto type = part.is_object() ? part.find("type") : part.end();
      if (type != part.end() && type->is_string() && *type != "text") {
        parts[Concat("messages[", i, "].content[", j, "]")] = &part;
      }
    }
  }
  for (const auto& [where, part] : parts) {
    if (std::find(media_sources.begin(), media_sources.end(), where) == media_sources.end()) {
      Fail(where, ": media in a leading system message are not shown to the model (the Gemma 4 template "
                  "drops them); put them in a user message");
    }
  }
  if (media_sources.empty()) {
    *soft = SoftTokens{};
    return;
  }
  if (!IsImageTokenBudget(request.image_tokens)) {
    Fail("image_tokens: ", request.image_tokens, " is not one of 70, 140, 280, 560, 1120");
  }
  if (request.video_frames < 1 || request.video_frames > kMaxVideoFrames) {
    Fail("video_frames: ", request.video_frames, " is not between 1 and ", kMaxVideoFrames);
  }
  std::vector<std::shared_ptr<const EncodedMedia>> media;
  for (const std::string& where : media_sources) {
    const auto it = parts.find(where);
    G4_CHECK(it != parts.end(), "rendered media part ", where, " not in the request");
    media.push_back(EncodeMediaPart(*it->second, where, request, encoders, tokenizer));
  }
  std::vector<int32_t> expanded;
  ExpandMediaPlaceholders(*ids, media, MediaTokenIds::FromTokenizer(tokenizer), width, &expanded, soft);
  *ids = std::move(expanded);
}

}  // namespace g4
