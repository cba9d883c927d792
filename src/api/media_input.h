// The bytes of a chat request's media parts: OpenAI content parts (image_url, input_audio,
// video_url and the Gemma-style image / audio / video names) with a data URL, base64 data or,
// where the caller allows it, a file:// URL. Errors name the part ("messages[1].content[0]: ...")
// and say what is wrong: not base64 (with the offset), a MIME type or format that does not fit
// the part, a URL scheme that is not accepted, an unreadable file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"

namespace g4 {

// Files larger than this are refused before reading (a bound on what one request can load).
inline constexpr int64_t kMaxMediaFileBytes = int64_t{1} << 30;

struct MediaBytes {
  ContentPartType type = ContentPartType::kImage;
  std::vector<uint8_t> data;
  std::string what;  // the part's path, for the decoders' errors
};

// Decodes standard base64 (RFC 4648 §4; padding optional, no whitespace). Throws g4::Error
// naming the offset of the first character that does not belong.
std::vector<uint8_t> DecodeBase64(std::string_view text);

// The media bytes of one content part. `where` is the part's path; `allow_file_urls` admits
// file:// URLs (the CLI's own files), never the server's requests.
MediaBytes ReadMediaPart(const nlohmann::json& part, const std::string& where, bool allow_file_urls);

}  // namespace g4
