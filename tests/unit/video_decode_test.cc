// Video decoding on clips the Debian `ffmpeg` program makes at test time: 4 s at 10 fps of solid
// colours changing each second (red, green, blue, white) with a 440 Hz tone, in MP4 (H.264 +
// AAC), WebM (VP8 + Opus) and MKV (MPEG-4 part 2 + Vorbis). Checked: the frames sampled (Hugging
// Face's rule), their stamps and colours, the audio's length and pitch; bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "media/video.h"
#include "media_test_util.h"

namespace g4 {
namespace {

using namespace media_test;  // NOLINT: the test helpers

struct Rgb {
  int r, g, b;
};
const std::vector<Rgb> kSecondColours = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};

// Makes the test clip with `codecs` (ffmpeg options) into a file ending in `suffix`.
std::string MakeClip(const std::string& codecs, const std::string& suffix) {
  const std::string out = TempPath(suffix);
  RunCommand(
      "ffmpeg -nostdin -hide_banner -loglevel error -y "
      "-f lavfi -i sine=frequency=440:sample_rate=44100:duration=4 "
      "-filter_complex '"
      "color=c=0xFF0000:s=96x64:r=10:d=1[a];color=c=0x00FF00:s=96x64:r=10:d=1[b];"
      "color=c=0x0000FF:s=96x64:r=10:d=1[c];color=c=0xFFFFFF:s=96x64:r=10:d=1[d];"
      "[a][b][c][d]concat=n=4:v=1:a=0,format=yuv420p[v]' "
      "-map '[v]' -map 0:a " +
      codecs + " " + out);
  return out;
}

struct Container {
  const char* name;
  const char* codecs;
  const char* suffix;
};
const std::vector<Container> kContainers = {
    {"mp4", "-c:v libx264 -preset ultrafast -c:a aac", ".mp4"},
    {"webm", "-c:v libvpx -b:v 1M -c:a libopus", ".webm"},
    {"mkv", "-c:v mpeg4 -q:v 2 -c:a libvorbis", ".mkv"},
};

// The strongest frequency between 100 and 2000 Hz, in 5 Hz steps (a plain DFT probe).
double DominantFrequency(const std::vector<float>& samples) {
  const size_t n = std::min<size_t>(samples.size(), 16000);
  double best = 0, best_power = -1;
  for (double f = 100; f <= 2000; f += 5) {
    double re = 0, im = 0;
    for (size_t i = 0; i < n; ++i) {
      const double phase = 2 * M_PI * f * i / 16000.0;
      re += samples[i] * std::cos(phase);
      im += samples[i] * std::sin(phase);
    }
    if (re * re + im * im > best_power) {
      best_power = re * re + im * im;
      best = f;
    }
  }
  return best;
}

void ExpectFrameColour(const VideoFrame& frame, const std::string& label) {
  const Rgb want = kSecondColours.at(static_cast<size_t>(frame.index / 10));
  // The centre pixel and a corner; yuv420p rounding moves primaries by a few levels.
  for (auto [x, y] : {std::pair{frame.image.width / 2, frame.image.height / 2}, std::pair{1, 1}}) {
    const uint8_t* p = frame.image.pixel(x, y);
    EXPECT_NEAR(p[0], want.r, 6) << label << " frame " << frame.index;
    EXPECT_NEAR(p[1], want.g, 6) << label << " frame " << frame.index;
    EXPECT_NEAR(p[2], want.b, 6) << label << " frame " << frame.index;
  }
}

TEST(VideoDecode, SamplesFramesStampsColoursAndAudioInEachContainer) {
  for (const Container& c : kContainers) {
    const std::string path = MakeClip(c.codecs, c.suffix);
    VideoOptions options;  // 32 frames of the 40
    const VideoClip clip = DecodeVideoFile(path, options);
    EXPECT_DOUBLE_EQ(clip.fps, 10.0) << c.name;
    EXPECT_NEAR(clip.duration_seconds, 4.0, 0.1) << c.name;
    ASSERT_EQ(clip.frames.size(), 32u) << c.name;
    for (size_t i = 0; i < clip.frames.size(); ++i) {
      const VideoFrame& f = clip.frames[i];
      EXPECT_EQ(f.index, static_cast<int64_t>(i * 40 / 32)) << c.name;  // floor(i · 1.25)
      EXPECT_DOUBLE_EQ(f.seconds, f.index / 10.0) << c.name;
      EXPECT_EQ(f.image.width, 96);
      EXPECT_EQ(f.image.height, 64);
      ExpectFrameColour(f, c.name);
    }
    EXPECT_EQ(VideoTimestamp(clip.frames.back().seconds), "00:03") << c.name;
    ASSERT_TRUE(clip.audio.has_value()) << c.name;
    EXPECT_NEAR(clip.audio->seconds(), 4.0, 0.05) << c.name;
    EXPECT_EQ(clip.audio->source_rate, c.name == std::string("webm") ? 48000 : 44100) << c.name;
    EXPECT_NEAR(DominantFrequency(clip.audio->samples), 440.0, 5.0) << c.name;
    std::remove(path.c_str());
  }
}

TEST(VideoDecode, FewFramesLandOnEachSecondAndShortClipsGiveAllFrames) {
  const std::string path = MakeClip(kContainers[0].codecs, ".mp4");
  VideoOptions four;
  four.max_frames = 4;
  four.with_audio = false;
  const VideoClip clip = DecodeVideoFile(path, four);
  ASSERT_EQ(clip.frames.size(), 4u);
  EXPECT_FALSE(clip.audio.has_value());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(clip.frames[i].index, i * 10);
    EXPECT_EQ(VideoTimestamp(clip.frames[i].seconds), "00:0" + std::to_string(i));
    ExpectFrameColour(clip.frames[i], "4 frames");
  }
  VideoOptions many;
  many.max_frames = 100;
  const VideoClip all = DecodeVideoFile(path, many);
  ASSERT_EQ(all.frames.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(all.frames[i].index, i);
  std::remove(path.c_str());
}

TEST(VideoTimestamp, TruncatesToWholeSecondsAsMinutesAndSeconds) {
  EXPECT_EQ(VideoTimestamp(0), "00:00");
  EXPECT_EQ(VideoTimestamp(0.999), "00:00");
  EXPECT_EQ(VideoTimestamp(59.99), "00:59");
  EXPECT_EQ(VideoTimestamp(61.5), "01:01");
  EXPECT_EQ(VideoTimestamp(3599.9), "59:59");
  EXPECT_EQ(VideoTimestamp(6000), "100:00");
  EXPECT_EQ(VideoTimestamp(-1), "00:00");
}

// ---- bad input ------------------------------------------------------------------------------

std::string VideoError(const std::vector<uint8_t>& bytes, int max_frames = kDefaultVideoFrames) {
  VideoOptions options;
  options.max_frames = max_frames;
  return ErrorText([&] { DecodeVideo(bytes.data(), bytes.size(), "movie.bin", options); });
}

void ExpectVideoError(const std::vector<uint8_t>& bytes, const std::string& fragment, int max_frames = 32) {
  const std::string message = VideoError(bytes, max_frames);
  EXPECT_NE(message.find("movie.bin"), std::string::npos) << message;
  EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
}

TEST(VideoDecodeBadInput, EmptyNoiseAudioOnlyAndBadFrameCounts) {
  ExpectVideoError({}, "empty");
  std::vector<uint8_t> noise(8192);
  uint32_t state = 99;
  for (uint8_t& b : noise) b = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
  ExpectVideoError(noise, "not a media file");
  ExpectVideoError(ReadBytes(std::string(G4_TEST_DATA_DIR) + "/multimodal/inputs/aud_sweep_1s_16k_mono.wav"),
                   "no video stream");
  const std::string path = MakeClip(kContainers[0].codecs, ".mp4");
  const std::vector<uint8_t> good = ReadBytes(path);
  std::remove(path.c_str());
  ExpectVideoError(good, "1 to 256", 0);
  ExpectVideoError(good, "1 to 256", 257);
}

TEST(VideoDecodeBadInput, TruncatedFilesOfEachContainer) {
  for (const Container& c : kContainers) {
    const std::string path = MakeClip(c.codecs, c.suffix);
    std::vector<uint8_t> bytes = ReadBytes(path);
    std::remove(path.c_str());
    bytes.resize(bytes.size() / 2);
    const std::string message = VideoError(bytes);
    EXPECT_NE(message.find("movie.bin"), std::string::npos) << c.name << ": " << message;
    EXPECT_NE(message, "(no error)") << c.name;
    std::printf("truncated %s: %s\n", c.name, message.c_str());
  }
}

TEST(VideoDecodeBadInput, HugeFramesAreRefusedBeforeDecoding) {
  // An 8200 x 8200 frame (67 Mpx) is over kMaxImagePixels; one black MJPEG frame is 400 KB.
  const std::string path = TempPath(".mkv");
  RunCommand("ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i color=c=black:s=8200x8200:r=1:d=1 "
             "-c:v mjpeg -q:v 31 -pix_fmt yuvj420p " + path);
  const std::vector<uint8_t> bytes = ReadBytes(path);
  std::remove(path.c_str());
  ExpectVideoError(bytes, "8200x8200");
}

}  // namespace
}  // namespace g4
