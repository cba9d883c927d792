// Audio decoding against the golden PCM (golden/multimodal/preproc/*.pcm.f32) and against
// files the Debian `ffmpeg` program encodes at test time (FLAC, MP3, Vorbis, Opus, AAC, other
// rates and channel counts); bad input ends in an error naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "media/audio.h"
#include "media_test_util.h"

namespace g4 {
namespace {

using namespace media_test;  // NOLINT: the test helpers

const std::string kDir = std::string(G4_TEST_DATA_DIR) + "/multimodal/";
const std::string kSweepWav = kDir + "inputs/aud_sweep_1s_16k_mono.wav";
const std::string kSweepPcm = kDir + "preproc/aud_sweep_1s_16k_mono.pcm.f32";
const std::string kStereoWav = kDir + "inputs/aud_sweepnoise_3.7s_44k1_stereo.wav";
const std::string kStereoPcm = kDir + "preproc/aud_sweepnoise_3.7s_44k1_stereo.pcm.f32";

std::vector<float> ReadFloats(const std::string& path) {
  const std::vector<uint8_t> bytes = ReadBytes(path);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

// Runs the ffmpeg program quietly on `input`, writing `suffix` with `options`; returns the path.
std::string Ffmpeg(const std::string& input, const std::string& options, const std::string& suffix) {
  const std::string out = TempPath(suffix);
  RunCommand("ffmpeg -nostdin -hide_banner -loglevel error -y -i " + Quote(input) + " " + options + " " + out);
  return out;
}

struct Alignment {
  int lag = 0;                // b[i + lag] lines up with a[i]
  double correlation = -1;    // normalised cross-correlation at that lag
  double snr_db = 0;          // a against b shifted by lag
};

// The lag in [-max_lag, max_lag] that correlates b best with a, over their overlap.
Alignment BestAlignment(const std::vector<float>& a, const std::vector<float>& b, int max_lag) {
  Alignment best;
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    double ab = 0, aa = 0, bb = 0, err = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const int64_t j = static_cast<int64_t>(i) + lag;
      if (j < 0 || j >= static_cast<int64_t>(b.size())) continue;
      ab += double(a[i]) * b[j];
      aa += double(a[i]) * a[i];
      bb += double(b[j]) * b[j];
      err += (double(a[i]) - b[j]) * (double(a[i]) - b[j]);
    }
    const double c = ab / std::sqrt(aa * bb + 1e-30);
    if (c > best.correlation) best = {lag, c, 10 * std::log10(aa / (err + 1e-30))};
  }
  return best;
}

TEST(AudioDecode, SixteenKilohertzMonoWavIsExactlyTheGoldenPcm) {
  const AudioClip clip = DecodeAudioFile(kSweepWav);
  const std::vector<float> expected = ReadFloats(kSweepPcm);
  ASSERT_EQ(clip.samples.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(clip.samples[i], expected[i]) << "sample " << i;
  EXPECT_EQ(clip.source_rate, 16000);
  EXPECT_EQ(clip.source_channels, 1);
  EXPECT_DOUBLE_EQ(clip.seconds(), 1.0);
}

TEST(AudioDecode, StereoAt44100IsResampledLikeTheGoldenPcm) {
  // The golden PCM came from miniaudio's linear resampler and sits about one sample late, so
  // the check is correlation after the best alignment, not equality.
  const AudioClip clip = DecodeAudioFile(kStereoWav);
  const std::vector<float> golden = ReadFloats(kStereoPcm);
  EXPECT_EQ(clip.source_rate, 44100);
  EXPECT_EQ(clip.source_channels, 2);
  EXPECT_LE(std::abs(static_cast<int64_t>(clip.samples.size()) - static_cast<int64_t>(golden.size())), 3)
      << clip.samples.size() << " vs " << golden.size();
  const Alignment a = BestAlignment(golden, clip.samples, 8);
  EXPECT_GE(a.correlation, 0.99) << "lag " << a.lag;
  EXPECT_LE(std::abs(a.lag), 2);
  RecordProperty("correlation", std::to_string(a.correlation));
  std::printf("44.1 kHz stereo vs golden: lag %d, correlation %.6f, SNR %.1f dB\n", a.lag, a.correlation, a.snr_db);
}

TEST(AudioDecode, StereoIsMixedToTheMeanOfItsChannels) {
  // Left = the sweep, right = silence: the mono mix is exactly half the sweep.
  const std::string stereo = TempPath(".wav");
  RunCommand("ffmpeg -nostdin -hide_banner -loglevel error -y -i " + Quote(kSweepWav) +
      " -f lavfi -i anullsrc=r=16000:cl=mono -t 1 -filter_complex '[0][1]amerge=inputs=2' -c:a pcm_s16le " + stereo);
  const AudioClip clip = DecodeAudioFile(stereo);
  const std::vector<float> sweep = ReadFloats(kSweepPcm);
  EXPECT_EQ(clip.source_channels, 2);
  ASSERT_EQ(clip.samples.size(), sweep.size());
  for (size_t i = 0; i < sweep.size(); ++i) ASSERT_EQ(clip.samples[i], sweep[i] * 0.5f) << "sample " << i;
  std::remove(stereo.c_str());
}

TEST(AudioDecode, FlacIsLossless) {
  const std::string flac = Ffmpeg(kSweepWav, "-c:a flac", ".flac");
  const AudioClip clip = DecodeAudioFile(flac);
  EXPECT_EQ(clip.samples, ReadFloats(kSweepPcm));
  std::remove(flac.c_str());
}

struct LossyCase {
  const char* name;
  const char* options;
  const char* suffix;
  double min_correlation;
};

TEST(AudioDecode, LossyCodecsDecodeCloseToTheSource) {
  // Each encoder gets the 16 kHz sweep; thresholds sit under what was measured (printed below).
  const std::vector<LossyCase> cases = {
      {"mp3", "-c:a libmp3lame -b:a 64k", ".mp3", 0.98},
      {"vorbis", "-c:a libvorbis -q:a 6", ".ogg", 0.98},
      {"opus", "-c:a libopus -b:a 64k", ".opus", 0.98},
      {"aac/m4a", "-c:a aac -b:a 96k", ".m4a", 0.98},
  };
  const std::vector<float> source = ReadFloats(kSweepPcm);
  for (const LossyCase& c : cases) {
    const std::string file = Ffmpeg(kSweepWav, c.options, c.suffix);
    const AudioClip clip = DecodeAudioFile(file);
    // Codecs add priming or padding of up to a few tens of milliseconds.
    EXPECT_NEAR(clip.seconds(), 1.0, 0.1) << c.name;
    const Alignment a = BestAlignment(source, clip.samples, 2000);
    std::printf("%-8s %zu samples, lag %d, correlation %.5f, SNR %.1f dB\n", c.name, clip.samples.size(), a.lag,
                a.correlation, a.snr_db);
    EXPECT_GE(a.correlation, c.min_correlation) << c.name;
    std::remove(file.c_str());
  }
}

TEST(AudioDecode, OtherRatesAndChannelCountsComeOutAt16kMono) {
  const std::vector<float> source = ReadFloats(kSweepPcm);
  struct Variant {
    const char* options;
    int rate, channels;
  };
  // Rates above 16 kHz keep the whole sweep, so resampling back must restore it closely.
  for (const Variant& v : std::vector<Variant>{{"-ar 48000 -ac 2 -c:a pcm_s16le", 48000, 2},
                                               {"-ar 22050 -ac 1 -c:a pcm_f32le", 22050, 1},
                                               {"-ar 44100 -ac 6 -c:a pcm_s24le", 44100, 6}}) {
    const std::string file = Ffmpeg(kSweepWav, v.options, ".wav");
    const AudioClip clip = DecodeAudioFile(file);
    EXPECT_EQ(clip.source_rate, v.rate);
    EXPECT_EQ(clip.source_channels, v.channels);
    EXPECT_LE(std::abs(static_cast<int64_t>(clip.samples.size()) - 16000), 2) << v.options;
    const Alignment a = BestAlignment(source, clip.samples, 8);
    std::printf("%-32s lag %d, correlation %.5f\n", v.options, a.lag, a.correlation);
    EXPECT_LE(std::abs(a.lag), 1) << v.options;
    EXPECT_GE(a.correlation, 0.99) << v.options;
    std::remove(file.c_str());
  }
}

// ---- bad input ------------------------------------------------------------------------------

void ExpectError(const std::vector<uint8_t>& bytes, const std::string& fragment) {
  const std::string message = ErrorText([&] { DecodeAudio(bytes.data(), bytes.size(), "clip.bin"); });
  EXPECT_NE(message.find("clip.bin"), std::string::npos) << message;
  EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
}

void PutLe32(std::vector<uint8_t>& bytes, size_t offset, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

TEST(AudioDecodeBadInput, EmptyFile) { ExpectError({}, "empty"); }

TEST(AudioDecodeBadInput, RandomBytesAreNotAudio) {
  std::vector<uint8_t> noise(4096);
  uint32_t state = 12345;
  for (uint8_t& b : noise) b = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
  ExpectError(noise, "not a media file");
}

TEST(AudioDecodeBadInput, TruncatedWav) {
  std::vector<uint8_t> wav = ReadBytes(kSweepWav);
  wav.resize(wav.size() / 2);
  ExpectError(wav, "truncated");
  wav.resize(30);  // inside the header
  const std::string message = ErrorText([&] { DecodeAudio(wav.data(), wav.size(), "clip.bin"); });
  EXPECT_NE(message.find("clip.bin"), std::string::npos) << message;
}

TEST(AudioDecodeBadInput, CorruptCompressedData) {
  const std::string flac = Ffmpeg(kSweepWav, "-c:a flac", ".flac");
  std::vector<uint8_t> bytes = ReadBytes(flac);
  std::remove(flac.c_str());
  // Past ffmpeg's 8 KiB padding block, in the middle of the audio frames.
  for (size_t i = bytes.size() * 3 / 4; i < bytes.size() * 3 / 4 + 64; ++i) bytes[i] ^= 0x5a;
  const std::string message = ErrorText([&] { DecodeAudio(bytes.data(), bytes.size(), "clip.bin"); });
  EXPECT_NE(message.find("clip.bin"), std::string::npos) << message;
  EXPECT_TRUE(message.find("corrupt") != std::string::npos || message.find("truncated") != std::string::npos)
      << message;
}

TEST(AudioDecodeBadInput, UnsupportedCodec) {
  std::vector<uint8_t> wav = ReadBytes(kSweepWav);
  wav[20] = 0x34;  // WAVE format tag 0x1234: no codec has it
  wav[21] = 0x12;
  ExpectError(wav, "unsupported audio codec");
}

TEST(AudioDecodeBadInput, AnImageHasNoAudioStream) {
  ExpectError(ReadBytes(kDir + "preproc/img_64x64.llamacpp.png"), "no audio stream");
}

TEST(AudioDecodeBadInput, HeaderClaimingAnHourOverOneSecondOfData) {
  std::vector<uint8_t> wav = ReadBytes(kSweepWav);
  const uint32_t hour_bytes = 3600u * 16000u * 2u;
  PutLe32(wav, 4, hour_bytes + 36);  // RIFF size
  PutLe32(wav, 40, hour_bytes);      // data chunk size
  ExpectError(wav, "truncated");
}

TEST(AudioDecodeBadInput, AnHourOfAudioIsRefusedBeforeDecoding) {
  // A real hour (at 1 kHz, 8 bits, to keep the file at 3.6 MB): its header gives the length.
  const std::string wav = TempPath(".wav");
  RunCommand("ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i sine=f=100:r=1000:d=3600 -c:a pcm_u8 " + wav);
  const std::string message = ErrorText([&] { DecodeAudioFile(wav); });
  EXPECT_NE(message.find(wav), std::string::npos) << message;
  EXPECT_NE(message.find("lasts 3600 s, longer than the 600 s"), std::string::npos) << message;
  std::remove(wav.c_str());
}

TEST(AudioDecodeBadInput, StreamLongerThanTheLimitStopsAtTheLimit) {
  // A streamed WAV (no data size in its header): the length shows only while decoding.
  const std::string wav = TempPath(".wav");
  RunCommand("ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i sine=f=440:r=8000:d=601 -c:a pcm_u8 -f wav pipe: > " +
      wav);
  const std::string message = ErrorText([&] { DecodeAudioFile(wav); });
  EXPECT_NE(message.find(wav), std::string::npos) << message;
  EXPECT_NE(message.find("longer than 600"), std::string::npos) << message;
  std::remove(wav.c_str());
}

}  // namespace
}  // namespace g4
