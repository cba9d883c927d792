// The core-only build (G4_ENGINE_CORE_ONLY) has no media decoders: each media input is refused
// with a g4::Error that names the input and says why, never a crash or an empty result.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "media/audio.h"
#include "media/image.h"
#include "media/video.h"

namespace g4 {
namespace {

template <typename Decode>
void ExpectRefused(Decode decode, const std::string& what, const std::string& kind) {
  try {
    decode();
    ADD_FAILURE() << what << ": decoded in a build without media decoding";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(what + ": ", 0), 0u) << message;
    EXPECT_NE(message.find("no media decoding"), std::string::npos) << message;
    EXPECT_NE(message.find(kind), std::string::npos) << message;
  }
}

TEST(NoMediaDecoding, EveryDecoderRefusesWithItsInputNamed) {
  // A real PNG signature: the refusal must not depend on the bytes.
  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  ExpectRefused([&] { DecodeImage(png.data(), png.size(), "messages[1].content[0]"); }, "messages[1].content[0]",
                "images");
  ExpectRefused([] { DecodeImageFile("photo.png"); }, "photo.png", "images");
  ExpectRefused([&] { DecodeAudio(png.data(), png.size(), "speech.wav"); }, "speech.wav", "audio");
  ExpectRefused([] { DecodeAudioFile("speech.mp3"); }, "speech.mp3", "audio");
  ExpectRefused([&] { DecodeVideo(png.data(), png.size(), "clip.mp4", VideoOptions{}); }, "clip.mp4", "video");
  ExpectRefused([] { DecodeVideoFile("clip.webm", VideoOptions{}); }, "clip.webm", "video");
}

}  // namespace
}  // namespace g4
