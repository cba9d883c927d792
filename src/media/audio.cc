#include "media/audio.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
}

#include <cstring>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/mapped_file.h"
#include "media/ffmpeg_input.h"
#include "media/log_mel.h"

namespace g4 {
namespace media_internal {
namespace {

constexpr int64_t kMaxOutputSamples = static_cast<int64_t>(kMaxAudioSeconds * kAudioSampleRate);

struct ResamplerDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};

// Durations from the header are trusted for early refusal and for the truncation check;
// estimates from the bit rate are not (a VBR file can be off by a factor of two).
bool HeaderDurationIsReliable(const AVFormatContext* format) {
  return format->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE;
}

// Converts decoded frames to mono 16 kHz float with libswresample. The resampler is made for
// the first frame's format; mono is the mean of all channels (as librosa and HF's loaders mix),
// not swresample's default downmix, which adds the channels at -3 dB each.
class MonoResampler {
 public:
  explicit MonoResampler(const std::string& what) : what_(what) {}

  void Add(const AVFrame* frame, std::vector<float>& out) {
    if (!resampler_) Start(frame);
    if (frame->sample_rate != in_rate_ || frame->format != in_format_ ||
        frame->ch_layout.nb_channels != in_channels_) {
      Fail(what_, ": the audio format changes in the middle of the stream");
    }
    Convert(frame->extended_data, frame->nb_samples, out);
  }
  void Flush(std::vector<float>& out) {
    if (resampler_) Convert(nullptr, 0, out);
  }

 private:
  void Start(const AVFrame* frame) {
    in_rate_ = frame->sample_rate;
    in_format_ = frame->format;
    in_channels_ = frame->ch_layout.nb_channels;
    if (in_rate_ <= 0 || in_channels_ <= 0) {
      Fail(what_, ": the audio stream declares ", in_channels_, " channels at ", in_rate_, " Hz");
    }
    AVChannelLayout in_layout;
    if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
      av_channel_layout_default(&in_layout, in_channels_);
    } else {
      av_channel_layout_copy(&in_layout, &frame->ch_layout);
    }
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext* raw = nullptr;
    int rc = swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_FLT, kAudioSampleRate, &in_layout,
                                 static_cast<AVSampleFormat>(in_format_), in_rate_, 0, nullptr);
    av_channel_layout_uninit(&in_layout);
    resampler_.reset(raw);
    if (rc < 0) Fail(what_, ": cannot set up resampling: ", FfmpegErrorText(rc));
    std::vector<double> mean(in_channels_, 1.0 / in_channels_);
    rc = swr_set_matrix(raw, mean.data(), in_channels_);
    if (rc < 0) Fail(what_, ": cannot set the mono mix: ", FfmpegErrorText(rc));
    rc = swr_init(raw);
    if (rc < 0) Fail(what_, ": cannot start resampling ", in_rate_, " Hz to 16 kHz: ", FfmpegErrorText(rc));
  }

  void Convert(const uint8_t* const* in, int in_samples, std::vector<float>& out) {
    const int capacity = swr_get_out_samples(resampler_.get(), in_samples);
    if (capacity < 0) Fail(what_, ": resampling failed: ", FfmpegErrorText(capacity));
    if (static_cast<int64_t>(out.size()) + capacity > kMaxOutputSamples + kAudioSampleRate) {
      Fail(what_, ": the audio is longer than ", kMaxAudioSeconds, " s, the most g4 takes (stopped at ",
           out.size() / kAudioSampleRate, " s)");
    }
    const size_t start = out.size();
    out.resize(start + capacity);
    uint8_t* dst = reinterpret_cast<uint8_t*>(out.data() + start);
    const int produced = swr_convert(resampler_.get(), &dst, capacity, const_cast<const uint8_t**>(in), in_samples);
    if (produced < 0) Fail(what_, ": resampling failed: ", FfmpegErrorText(produced));
    out.resize(start + produced);
    if (static_cast<int64_t>(out.size()) > kMaxOutputSamples) {
      Fail(what_, ": the audio is longer than ", kMaxAudioSeconds, " s, the most g4 takes");
    }
  }

  std::string what_;
  std::unique_ptr<SwrContext, ResamplerDeleter> resampler_;
  int in_rate_ = 0, in_format_ = -1, in_channels_ = 0;
};

}  // namespace

void CheckWavDataComplete(const uint8_t* data, size_t size, const std::string& what) {
  // FFmpeg's WAV reader quietly clamps a data chunk that runs past the end of the file, and any
  // bytes are valid PCM, so a cut-off WAV is only visible here: the declared chunk size.
  auto le32 = [&](size_t at) {
    return static_cast<uint32_t>(data[at]) | static_cast<uint32_t>(data[at + 1]) << 8 |
           static_cast<uint32_t>(data[at + 2]) << 16 | static_cast<uint32_t>(data[at + 3]) << 24;
  };
  if (size < 12 || std::memcmp(data, "RIFF", 4) != 0 || std::memcmp(data + 8, "WAVE", 4) != 0) return;
  size_t position = 12;
  while (position + 8 <= size) {
    const uint32_t length = le32(position + 4);
    if (std::memcmp(data + position, "data", 4) == 0) {
      const size_t available = size - position - 8;
      // 0 and 0xFFFFFFFF mark a streamed WAV whose writer could not go back to fill the size.
      if (length != 0 && length != 0xFFFFFFFFu && length > available) {
        Fail(what, ": truncated: the WAV data chunk at byte ", position, " declares ", length, " bytes but ",
             available, " follow");
      }
      return;
    }
    position += 8 + static_cast<size_t>(length) + (length & 1);
  }
}

AudioClip DecodeAudioStream(MemoryContainer& container, int stream_index) {
  const std::string& what = container.what();
  AVFormatContext* format = container.format();
  const AVStream* stream = format->streams[stream_index];
  const double declared = DeclaredSeconds(format, stream);
  if (HeaderDurationIsReliable(format) && declared > kMaxAudioSeconds) {
    Fail(what, ": the audio lasts ", declared, " s, longer than the ", kMaxAudioSeconds, " s g4 takes");
  }
  // Damaged data is an error, not something to conceal: checksums are verified where the
  // format has them, and any decoding error stops the decoder.
  DecoderPtr decoder = OpenDecoder(stream, what, "audio", [](AVCodecContext* c) {
    c->err_recognition |= AV_EF_CRCCHECK | AV_EF_EXPLODE;
  });
  const AVCodec* codec = decoder->codec;
  int rc = 0;

  AudioClip clip;
  MonoResampler resampler(what);
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (!packet || !frame) Fail(what, ": out of memory for decoding");
  auto drain = [&] {
    while ((rc = avcodec_receive_frame(decoder.get(), frame.get())) >= 0) {
      resampler.Add(frame.get(), clip.samples);
      av_frame_unref(frame.get());
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
      Fail(what, ": corrupt ", codec->name, " audio after ", clip.seconds(), " s: ", FfmpegErrorText(rc));
    }
  };
  while ((rc = av_read_frame(format, packet.get())) >= 0) {
    if (packet->stream_index == stream_index) {
      rc = avcodec_send_packet(decoder.get(), packet.get());
      if (rc < 0) {
        Fail(what, ": corrupt ", codec->name, " audio after ", clip.seconds(), " s: ", FfmpegErrorText(rc));
      }
      drain();
    }
    av_packet_unref(packet.get());
  }
  if (rc != AVERROR_EOF) {
    Fail(what, ": corrupt or truncated data after ", clip.seconds(), " s of audio: ", FfmpegErrorText(rc));
  }
  avcodec_send_packet(decoder.get(), nullptr);
  drain();
  resampler.Flush(clip.samples);

  if (clip.samples.empty()) Fail(what, ": the audio stream holds no samples");
  // A cut-off file usually decodes without complaint, only shorter: the header still tells.
  if (HeaderDurationIsReliable(format) && declared > 0 &&
      clip.seconds() + 0.25 + 0.02 * declared < declared) {
    Fail(what, ": truncated or corrupt: the header promises ", declared, " s of audio but the data ends after ",
         clip.seconds(), " s");
  }
  clip.source_rate = decoder->sample_rate;
  clip.source_channels = decoder->ch_layout.nb_channels;
  return clip;
}

}  // namespace media_internal

AudioClip DecodeAudio(const uint8_t* data, size_t size, const std::string& what) {
  media_internal::MemoryContainer container(data, size, what);
  media_internal::CheckWavDataComplete(data, size, what);
  const int stream = av_find_best_stream(container.format(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (stream < 0) {
    Fail(what, ": no audio stream in this ", container.format()->iformat->name, " file");
  }
  return media_internal::DecodeAudioStream(container, stream);
}

AudioClip DecodeAudioFile(const std::string& path) {
  std::shared_ptr<MappedFile> file = MappedFile::Open(path);
  return DecodeAudio(file->data(), file->size(), path);
}

}  // namespace g4
