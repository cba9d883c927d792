#include "media_flags.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace g4::cli {

namespace fs = std::filesystem;

namespace {

// Audio travels inside the request as base64; anything larger than this is far beyond the
// ten minutes the decoder accepts at any common rate, so it is refused before being read.
constexpr uintmax_t kMaxAudioFileBytes = uintmax_t{256} << 20;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string Base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], alphabet[v & 63]};
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += {alphabet[v >> 18], alphabet[(v >> 12) & 63]};
    out += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

// file:// URL of the absolute path, written as is: the engine reads what follows "file://" as
// the path (no percent-decoding), so names with spaces, '#' or '%' arrive unchanged.
std::string FileUrl(const std::string& path) { return "file://" + fs::absolute(path).lexically_normal().string(); }

// Opens the file to prove it is readable; prints "g4 CMD: --image PATH: why" otherwise.
bool CheckReadable(const MediaFile& file, const char* command, uintmax_t* size) {
  std::error_code ec;
  const fs::file_status status = fs::status(file.path, ec);
  const char* why = nullptr;
  if (ec) {
    why = std::strerror(ec.value());
  } else if (fs::is_directory(status)) {
    why = "is a folder, not a file";
  } else {
    std::ifstream in(file.path, std::ios::binary);
    if (!in) why = std::strerror(errno);
    *size = fs::is_regular_file(status) ? fs::file_size(file.path, ec) : 0;
  }
  if (why == nullptr) return true;
  std::fprintf(stderr, "g4 %s: %s %s: %s\n", command, MediaFlagName(file.kind), file.path.c_str(), why);
  return false;
}

}  // namespace

const char* MediaFlagName(MediaKind kind) {
  switch (kind) {
    case MediaKind::kImage: return "--image";
    case MediaKind::kAudio: return "--audio";
    default: return "--video";
  }
}

void AddMmprojFlags(CLI::App* sub, MmprojFlags* flags) {
  auto* path = sub->add_option("--mmproj", flags->path,
                               "mmproj GGUF with the vision/audio encoders (default: the one mmproj*.gguf next to a "
                               "GGUF model; Hugging Face folders carry their own)");
  sub->add_flag("--no-mmproj", flags->none, "load no mmproj file, even one lying next to the model")->excludes(path);
}

void AddMediaFlags(CLI::App* sub, MediaFlags* flags) {
  // One file per flag, so a file list never swallows the positional model argument.
  sub->add_option("--image", flags->images, "image file given to the model before the prompt (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--audio", flags->audios, "audio file given to the model before the prompt (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--video", flags->videos, "video file given to the model before the prompt (repeatable)")
      ->allow_extra_args(false);
  sub->add_option("--image-tokens", flags->image_tokens, "soft tokens per image: 70, 140, 280 (default), 560 or 1120")
      ->check(CLI::IsMember(std::vector<int>(kImageTokenBudgets.begin(), kImageTokenBudgets.end())));
  sub->add_option("--video-frames", flags->video_frames, "frames sampled evenly from each video (default 32)")
      ->check(CLI::Range(1, kMaxVideoFrames));
}

void OrderMediaFlags(const CLI::App& sub, MediaFlags* flags) {
  flags->order.clear();
  size_t next[3] = {0, 0, 0};
  const std::vector<std::string>* lists[3] = {&flags->images, &flags->audios, &flags->videos};
  for (const CLI::Option* option : sub.parse_order()) {
    for (int k = 0; k < 3; ++k) {
      const MediaKind kind = static_cast<MediaKind>(k);
      if (option->check_name(MediaFlagName(kind)) && next[k] < lists[k]->size()) {
        flags->order.push_back({kind, (*lists[k])[next[k]++]});
      }
    }
  }
}

std::string ChooseMmproj(const MmprojFlags& flags, const std::string& model_path, const char* command,
                         bool* auto_found) {
  *auto_found = false;
  if (!flags.path.empty() || flags.none) return flags.path;
  const fs::path model(model_path);
  std::error_code ec;
  if (!fs::is_regular_file(model, ec) || Lower(model.extension().string()) != ".gguf") return "";
  std::vector<std::string> found;
  for (const fs::directory_entry& e : fs::directory_iterator(model.parent_path().empty() ? "." : model.parent_path(), ec)) {
    const std::string name = Lower(e.path().filename().string());
    if (name.rfind("mmproj", 0) == 0 && name.size() > 5 && name.substr(name.size() - 5) == ".gguf" && e.is_regular_file(ec) &&
        !fs::equivalent(e.path(), model, ec)) {
      found.push_back(e.path().string());
    }
  }
  if (found.size() > 1) {
    std::string names;
    for (const std::string& f : found) names += " " + fs::path(f).filename().string();
    std::fprintf(stderr, "g4 %s: several mmproj files lie next to the model (%s ); none loaded: choose one with --mmproj\n",
                 command, names.c_str());
    return "";
  }
  if (found.empty()) return "";
  std::fprintf(stderr, "g4 %s: encoders from %s (found next to the model; --no-mmproj skips it)\n", command,
               found[0].c_str());
  *auto_found = true;
  return found[0];
}

std::string MmprojLoadHint(bool auto_found) {
  return auto_found ? " (that mmproj file was found next to the model: name another with --mmproj, or pass --no-mmproj)"
                    : "";
}

bool CheckEncoders(const LoadedModel& model, const std::vector<MediaFile>& files, const char* command) {
  for (const MediaFile& file : files) {
    if (!CheckEncoder(model, file.kind, command)) return false;
  }
  return true;
}

bool CheckEncoder(const LoadedModel& model, MediaKind kind, const char* command) {
  const bool audio = kind == MediaKind::kAudio;
  if (audio ? model.has_audio() : model.has_vision()) return true;
  std::fprintf(stderr,
               "g4 %s: %s: the model has no %s encoder, so it cannot take %s; load the encoders with --mmproj FILE (the "
               "model's mmproj GGUF)%s\n",
               command, MediaFlagName(kind), audio ? "audio" : "vision",
               audio ? "audio" : kind == MediaKind::kImage ? "images" : "videos",
               audio ? " - only Gemma 4 E2B and E4B hear audio" : "");
  return false;
}

bool MediaPart(const MediaFile& file, const char* command, nlohmann::json* part) {
  uintmax_t size = 0;
  if (!CheckReadable(file, command, &size)) return false;
  switch (file.kind) {
    case MediaKind::kImage:
      *part = {{"type", "image_url"}, {"image_url", {{"url", FileUrl(file.path)}}}};
      return true;
    case MediaKind::kVideo:
      *part = {{"type", "video_url"}, {"video_url", {{"url", FileUrl(file.path)}}}};
      return true;
    case MediaKind::kAudio:
      break;
  }
  if (size > kMaxAudioFileBytes) {
    std::fprintf(stderr, "g4 %s: --audio %s: %ju bytes is more than the %ju MiB an audio file may have\n", command,
                 file.path.c_str(), size, kMaxAudioFileBytes >> 20);
    return false;
  }
  std::ifstream in(file.path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  if (in.bad()) {
    std::fprintf(stderr, "g4 %s: --audio %s: read error\n", command, file.path.c_str());
    return false;
  }
  // OpenAI's format field names the container, from the extension when it is one the engine
  // knows; FFmpeg reads the bytes whatever it says, so other files go without it.
  *part = {{"type", "input_audio"}, {"input_audio", {{"data", Base64(bytes)}}}};
  const std::string ext = Lower(fs::path(file.path).extension().string());
  for (const char* format : {"wav", "mp3", "flac", "ogg", "opus", "m4a", "aac", "webm", "mp4"}) {
    if (ext == std::string(".") + format) (*part)["input_audio"]["format"] = format;
  }
  return true;
}

nlohmann::json UserContent(const std::vector<nlohmann::json>& media_parts, const std::string& text) {
  if (media_parts.empty()) return text;
  nlohmann::json content = nlohmann::json::array();
  for (const nlohmann::json& p : media_parts) content.push_back(p);
  content.push_back({{"type", "text"}, {"text", text}});
  return content;
}

}  // namespace g4::cli
