// Multimodal prompts: a chat request's media parts decoded, run through the model's encoders,
// and spliced into the token ids in place of the template's placeholders (spec §4.4, §4.6, §5.6).
//
//   image  <|image|>  ->  <|image> + N×soft + <image|>          N from the image_tokens budget
//   audio  <|audio|>  ->  <|audio> + N×soft + <audio|>          per 30 s chunk, one block each
//   video  <|video|>  ->  "MM:SS " <|image> + N×soft + <image|>  per frame (70-token budget),
//                         frames joined by one space; with an audio tower, each 30 s chunk of
//                         the soundtrack follows the last frame of that chunk's time span.
//
// Why audio chunks each get their own <|audio>…<audio|>: the encoder sees each 30 s chunk on
// its own (750 tokens at most, as it was trained), and a block per chunk is the layout the
// model knows for one clip. Why the soundtrack is interleaved per 30 s instead of put after
// all frames: it keeps what is heard next to what is seen at that time, and for clips up to
// 30 s (the model card's guidance) the two layouts are the same: frames, then the audio.
//
// Soft rows are keyed by a hash of their content, so a prefix cache reuses an image's KV
// entries only for the same image. Image and frame runs are marked bidirectional; audio never.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "chat/chat_template.h"
#include "engine/soft_tokens.h"
#include "g4/chat.h"
#include "tokenizer/tokenizer.h"

namespace g4 {

class MultimodalTowers;
struct EncodedMedia;

// Encoded media by content (the part's bytes, its kind and the budgets), so the images of a
// conversation are encoded once rather than at every turn. Thread-safe; keeps the `capacity`
// most recently used items.
class MediaCache {
 public:
  explicit MediaCache(size_t capacity = 8) : capacity_(capacity) {}
  std::shared_ptr<const EncodedMedia> Find(uint64_t key);
  void Insert(uint64_t key, std::shared_ptr<const EncodedMedia> media);
  uint64_t hits() const;

 private:
  size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::pair<uint64_t, std::shared_ptr<const EncodedMedia>>> items_;  // most recent first
  uint64_t hits_ = 0;
};

struct MediaEncoders {
  const MultimodalTowers* towers = nullptr;  // null: the model takes text only
  int n_threads = 0;                         // encoder threads (0: one per core)
  MediaCache* cache = nullptr;               // optional
};

// The ids around soft-token runs and the template's placeholders; -1 where the vocabulary
// lacks one. From the vocabulary, or given (the golden test's tiny vocabulary has stand-ins).
struct MediaTokenIds {
  int32_t image_placeholder = -1, audio_placeholder = -1, video_placeholder = -1;
  int32_t image_begin = -1, image_end = -1, audio_begin = -1, audio_end = -1;
  static MediaTokenIds FromTokenizer(const Tokenizer& tokenizer);
};

// One stretch of a media item's expansion: text tokens, then begin + n soft tokens + end.
struct MediaBlock {
  std::vector<int32_t> text_before;  // e.g. a video frame's "MM:SS " stamp
  bool vision = true;                // image markers and a bidirectional run; else audio
  int64_t n_tokens = 0;
  std::vector<float> rows;           // [n_tokens][width]
};

struct EncodedMedia {
  ContentPartType type = ContentPartType::kImage;
  std::vector<MediaBlock> blocks;
};

// Decodes a media part and runs the encoders. `request` gives image_tokens, video_frames and
// allow_file_urls. Throws g4::Error starting with `where` (the part's path) for unreadable or
// undecodable media, a bad budget, or a model without the needed encoder. With a cache, a hit
// is shared rather than copied.
std::shared_ptr<const EncodedMedia> EncodeMediaPart(const nlohmann::json& part, const std::string& where, const ChatRequest& request,
                             const MediaEncoders& encoders, const Tokenizer& tokenizer);

// Replaces the placeholders in `ids` (in order) by the blocks of `media` (same order), writing
// the expanded ids (kSoftToken at soft positions) and their soft tokens. Throws g4::Error when
// the counts or kinds disagree, or a marker id is missing from `marks`.
void ExpandMediaPlaceholders(const std::vector<int32_t>& ids,
                             const std::vector<std::shared_ptr<const EncodedMedia>>& media,
                             const MediaTokenIds& marks, int64_t width, std::vector<int32_t>* expanded,
                             SoftTokens* soft);

// Everything above for a rendered request: the parts named by `media_sources` (in prompt
// order) found in request.messages, encoded and spliced into `ids`. Media parts that the
// template did not render are an error naming them; so is media for a model without encoders.
void ResolveRequestMedia(const ChatRequest& request, const std::vector<std::string>& media_sources,
                         const MediaEncoders& encoders, const Tokenizer& tokenizer, int64_t width,
                         std::vector<int32_t>* ids, SoftTokens* soft);

}  // namespace g4
