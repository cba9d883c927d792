// The media decoders of a core-only build (G4_ENGINE_CORE_ONLY, e.g. the Arm cross build): it
// links no FFmpeg and no image libraries, so CMake compiles this file instead of audio.cc,
// video.cc, image*.cc and ffmpeg_input.cc. Everything else runs as in the full build; media
// inputs are refused with an error that names them and says why.
#include "media/audio.h"
#include "media/image.h"
#include "media/video.h"

#include "base/error.h"

namespace g4 {
namespace {

[[noreturn]] void FailNoDecoding(const std::string& what, const char* kind) {
  Fail(what, ": this build of g4 has no media decoding (G4_ENGINE_CORE_ONLY), so it cannot read ", kind,
       "; use a full build");
}

}  // namespace

Image DecodeImage(const uint8_t*, size_t, const std::string& what) { FailNoDecoding(what, "images"); }
Image DecodeImageFile(const std::string& path) { FailNoDecoding(path, "images"); }

AudioClip DecodeAudio(const uint8_t*, size_t, const std::string& what) { FailNoDecoding(what, "audio"); }
AudioClip DecodeAudioFile(const std::string& path) { FailNoDecoding(path, "audio"); }

VideoClip DecodeVideo(const uint8_t*, size_t, const std::string& what, const VideoOptions&) {
  FailNoDecoding(what, "video");
}
VideoClip DecodeVideoFile(const std::string& path, const VideoOptions&) { FailNoDecoding(path, "video"); }

}  // namespace g4
