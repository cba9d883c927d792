#include "api/media_input.h"

#include <algorithm>
#include <array>
#include <fstream>

#include "base/error.h"

namespace g4 {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 11> kAudioFormats = {"wav", "mp3", "flac", "ogg", "opus", "m4a",
                                                            "aac", "webm", "mp4", "mpeg", "x-wav"};

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

const char* KindName(ContentPartType type) {
  switch (type) {
    case ContentPartType::kImage: return "image";
    case ContentPartType::kAudio: return "audio";
    case ContentPartType::kVideo: return "video";
    default: return "text";
  }
}

std::vector<uint8_t> ReadFileBytes(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) Fail(where, ": cannot open file '", path, "'");
  const std::streamoff size = in.tellg();
  if (size < 0) Fail(where, ": cannot read file '", path, "'");
  if (size > kMaxMediaFileBytes) Fail(where, ": file '", path, "' has ", size, " bytes, more than the limit of ", kMaxMediaFileBytes);
  std::vector<uint8_t> data(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(data.data()), size)) Fail(where, ": cannot read file '", path, "'");
  return data;
}

// "data:<mime>;base64,<data>" or (when allowed) "file://<path>". `kind` is what the part holds,
// for checking the MIME type.
std::vector<uint8_t> ReadUrl(const std::string& url, ContentPartType kind, const std::string& where,
                             bool allow_file_urls) {
  if (url.rfind("data:", 0) == 0) {
    const size_t comma = url.find(',');
    if (comma == std::string::npos) Fail(where, ": malformed data URL (no comma before the data)");
    const std::string header = url.substr(5, comma - 5);
    const size_t semi = header.find(';');
    const std::string mime = header.substr(0, semi);
    if (header.size() < 7 || header.compare(header.size() - 7, 7, ";base64") != 0) {
      Fail(where, ": the data URL is not base64 (expected \"data:<type>;base64,...\")");
    }
    const std::string expected = std::string(KindName(kind)) + "/";
    if (!mime.empty() && mime.rfind(expected, 0) != 0 && mime != "application/octet-stream") {
      Fail(where, ": the data URL holds '", mime, "', not ", KindName(kind), " data (", expected, "*)");
    }
    try {
      return DecodeBase64(std::string_view(url).substr(comma + 1));
    } catch (const Error& e) {
      Fail(where, ": ", e.what());
    }
  }
  if (url.rfind("file://", 0) == 0) {
    if (!allow_file_urls) Fail(where, ": file:// URLs are not accepted here; send the ", KindName(kind), " as a data URL");
    return ReadFileBytes(url.substr(7), where);
  }
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    Fail(where, ": remote URLs are not fetched; send the ", KindName(kind), " as a data URL (data:", KindName(kind),
         "/...;base64,...)");
  }
  Fail(where, ": unsupported URL (expected a data URL", allow_file_urls ? " or a file:// URL" : "", ")");
}

// The URL of an image/video part: {"image_url":{"url":U}}, {"image_url":U}, {"image":U} or {"url":U}.
std::string PartUrl(const json& part, const char* field, const char* short_field, const std::string& where) {
  for (const char* key : {field, short_field, "url"}) {
    const auto it = part.find(key);
    if (it == part.end()) continue;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object()) {
      const auto url = it->find("url");
      if (url != it->end() && url->is_string()) return url->get<std::string>();
      Fail(where, ".", key, ".url: expected a string");
    }
    Fail(where, ".", key, ": expected an object with a url or a string");
  }
  Fail(where, ".", field, ": missing (expected {\"url\": \"data:...\"})");
}

}  // namespace

std::vector<uint8_t> DecodeBase64(std::string_view text) {
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '=' && text.size() - end < 2) --end;
  if (end % 4 == 1) Fail("not base64: ", end, " characters of data cannot encode whole bytes");
  for (size_t i = 0; i < end; ++i) {
    const int v = Base64Value(text[i]);
    if (v < 0) Fail("not base64: invalid character at offset ", i);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return out;
}

MediaBytes ReadMediaPart(const json& part, const std::string& where, bool allow_file_urls) {
  MediaBytes media;
  media.what = where;
  const std::string type = part.value("type", "");
  if (type == "image_url" || type == "image") {
    media.type = ContentPartType::kImage;
    media.data = ReadUrl(PartUrl(part, "image_url", "image", where), media.type, where, allow_file_urls);
  } else if (type == "video_url" || type == "video" || type == "input_video") {
    media.type = ContentPartType::kVideo;
    media.data = ReadUrl(PartUrl(part, type == "input_video" ? "input_video" : "video_url", "video", where), media.type,
                         where, allow_file_urls);
  } else if (type == "input_audio" || type == "audio") {
    media.type = ContentPartType::kAudio;
    const auto input = part.find("input_audio");
    if (input != part.end()) {
      if (!input->is_object()) Fail(where, ".input_audio: expected an object {\"data\": BASE64, \"format\": \"wav\"}");
      const auto data = input->find("data");
      if (data == input->end() || !data->is_string()) Fail(where, ".input_audio.data: expected a base64 string");
      const auto format = input->find("format");
      if (format != input->end() && !format->is_null()) {
        if (!format->is_string()) Fail(where, ".input_audio.format: expected a string");
        const std::string f = format->get<std::string>();
        if (std::find(kAudioFormats.begin(), kAudioFormats.end(), f) == kAudioFormats.end()) {
          Fail(where, ".input_audio.format: unsupported audio format '", f,
               "' (wav, mp3, flac, ogg, opus, m4a, aac, webm, mp4)");
        }
      }
      const std::string& text = data->get_ref<const std::string&>();
      if (text.rfind("data:", 0) == 0) {
        media.data = ReadUrl(text, media.type, where + ".input_audio.data", allow_file_urls);
      } else {
        try {
          media.data = DecodeBase64(text);
        } catch (const Error& e) {
          Fail(where, ".input_audio.data: ", e.what());
        }
      }
    } else {
      media.data = ReadUrl(PartUrl(part, "audio_url", "audio", where), media.type, where, allow_file_urls);
    }
  } else {
    Fail(where, ": not a media part");
  }
  if (media.data.empty()) Fail(where, ": the ", KindName(media.type), " is empty (0 bytes)");
  return media;
}

}  // namespace g4
