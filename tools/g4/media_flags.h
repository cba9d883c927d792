// Media on the command line: --image/--audio/--video files turned into the OpenAI content parts
// of a ChatRequest, the encoder checks, and the mmproj file (--mmproj, or the one lying next to
// a GGUF model).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "g4/engine.h"
#include "media/image_resize.h"
#include "media/video.h"

namespace g4::cli {

enum class MediaKind { kImage, kAudio, kVideo };

struct MediaFile {
  MediaKind kind;
  std::string path;
};

struct MediaFlags {
  std::vector<std::string> images, audios, videos;  // per flag; order() interleaves them
  int image_tokens = kDefaultImageTokens;
  int video_frames = kDefaultVideoFrames;
  std::vector<MediaFile> order;  // the files in command-line order (filled by OrderMediaFlags)
};

struct MmprojFlags {
  std::string path;
  bool none = false;  // --no-mmproj
};

// --mmproj FILE and --no-mmproj (run, chat, serve).
void AddMmprojFlags(CLI::App* sub, MmprojFlags* flags);
// --image, --audio, --video (repeatable), --image-tokens, --video-frames (run, chat).
void AddMediaFlags(CLI::App* sub, MediaFlags* flags);
// Fills flags->order from the order the flags were parsed in (call after parsing).
void OrderMediaFlags(const CLI::App& sub, MediaFlags* flags);

// The mmproj file to load with `model_path`: --mmproj when given; else, for a GGUF model, the
// single mmproj*.gguf in the model's folder (announced on stderr); else none. Sets
// *auto_found when the file was found rather than named.
std::string ChooseMmproj(const MmprojFlags& flags, const std::string& model_path, const char* command,
                         bool* auto_found);
// Adds a hint to a load error caused by an mmproj file that was picked automatically.
std::string MmprojLoadHint(bool auto_found);

// Prints why and returns false when the model lacks an encoder one of the files needs.
bool CheckEncoders(const LoadedModel& model, const std::vector<MediaFile>& files, const char* command);
bool CheckEncoder(const LoadedModel& model, MediaKind kind, const char* command);

// The content part for a file: image_url / video_url with a file:// URL, input_audio with the
// file's bytes in base64. Prints the error (naming the path) and returns false when the file
// cannot be read.
bool MediaPart(const MediaFile& file, const char* command, nlohmann::json* part);

// The user turn's content: the media parts first, in order (Google's advice), then the text.
// A plain string when there are no media.
nlohmann::json UserContent(const std::vector<nlohmann::json>& media_parts, const std::string& text);

const char* MediaFlagName(MediaKind kind);  // "--image", "--audio", "--video"

std::string Base64(const std::string& bytes);  // standard alphabet, padded

}  // namespace g4::cli
