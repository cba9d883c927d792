#include "media/video.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <cmath>
#include <memory>

#include "base/error.h"
#include "base/mapped_file.h"
#include "media/ffmpeg_input.h"

namespace g4 {
namespace {

using media_internal::DecoderPtr;
using media_internal::FfmpegErrorText;
using media_internal::FramePtr;
using media_internal::OpenDecoder;
using media_internal::PacketPtr;
using media_internal::MemoryContainer;

// Hugging Face's video processor assumes 24 fps when a video does not say.
constexpr double kDefaultFps = 24.0;

struct ScalerDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

// The first real video stream: cover art in an audio file is a still "video" stream marked
// as an attached picture, which is not a video.
int FindVideoStream(const AVFormatContext* format) {
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    const AVStream* s = format->streams[i];
    if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

double StreamFps(const AVStream* stream) {
  const AVRational rate = stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0 ? stream->avg_frame_rate
                                                                                        : stream->r_frame_rate;
  if (rate.num > 0 && rate.den > 0) return av_q2d(rate);
  return kDefaultFps;
}

// Frames in the stream, counted from its packets (one frame each for the codecs FFmpeg
// muxes), without decoding: the count the sampling below needs before the first frame.
int64_t CountVideoPackets(MemoryContainer& container, int stream_index) {
  PacketPtr packet(av_packet_alloc());
  int64_t count = 0;
  int rc;
  while ((rc = av_read_frame(container.format(), packet.get())) >= 0) {
    if (packet->stream_index == stream_index) ++count;
    av_packet_unref(packet.get());
  }
  if (rc != AVERROR_EOF) {
    Fail(container.what(), ": corrupt or truncated video data after ", count, " frames: ", FfmpegErrorText(rc));
  }
  return count;
}

// Converts one decoded frame to packed RGB, honouring the colour matrix and range it is tagged with.
Image ToRgb(const AVFrame* frame, std::unique_ptr<SwsContext, ScalerDeleter>& scaler, const std::string& what) {
  SwsContext* s = sws_getCachedContext(scaler.release(), frame->width, frame->height,
                                       static_cast<AVPixelFormat>(frame->format), frame->width, frame->height,
                                       AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                       nullptr, nullptr, nullptr);
  scaler.reset(s);
  if (s == nullptr) Fail(what, ": cannot convert video frames of pixel format ", frame->format, " to RGB");
  const int colorspace = frame->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : frame->colorspace;
  const int* coefficients = sws_getCoefficients(colorspace);
  const int full_range = frame->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
  sws_setColorspaceDetails(s, coefficients, full_range, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
  Image image;
  image.width = frame->width;
  image.height = frame->height;
  image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
  uint8_t* dst[1] = {image.rgb.data()};
  const int dst_stride[1] = {image.width * 3};
  sws_scale(s, frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
  return image;
}

// Hugging Face's BaseVideoProcessor.sample_frames: indices = arange(0, N, N / n).int(), i.e.
// floor(i·N/n) for i < n, with n capped at N here (HF raises instead).
std::vector<int64_t> SampleIndices(int64_t total, int wanted) {
  const int64_t n = std::min<int64_t>(wanted, total);
  std::vector<int64_t> indices(n);
  for (int64_t i = 0; i < n; ++i) indices[i] = i * total / n;
  return indices;
}

// Decodes the stream from its start and keeps the frames at `indices` (ascending). Returns
// fewer frames when the stream ends early.
std::vector<VideoFrame> DecodeFramesAt(MemoryContainer& container, int stream_index, const std::vector<int64_t>& indices,
                                       double fps, int64_t* frames_seen) {
  const std::string& what = container.what();
  const AVStream* stream = container.format()->streams[stream_index];
  DecoderPtr decoder = OpenDecoder(stream, what, "video", [](AVCodecContext* c) {
    c->max_pixels = kMaxImagePixels;  // frames whose size the header did not tell
    c->thread_count = 0;              // as many decoding threads as FFmpeg finds useful
  });
  const AVCodec* codec = decoder->codec;
  int rc = 0;

  std::vector<VideoFrame> frames;
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  std::unique_ptr<SwsContext, ScalerDeleter> scaler;
  int64_t index = 0;
  int64_t kept_pixels = 0;  // the header's size is checked before decoding; streams may change size
  auto done = [&] { return frames.size() == indices.size(); };
  auto drain = [&] {
    while (!done() && (rc = avcodec_receive_frame(decoder.get(), frame.get())) >= 0) {
      if (index == indices[frames.size()]) {
        const int64_t pixels = static_cast<int64_t>(frame->width) * frame->height;
        if (pixels > kMaxImagePixels) {
          Fail(what, ": video frame ", index, " is ", frame->width, "x", frame->height, ", more than the ",
               kMaxImagePixels, " pixels g4 decodes");
        }
        kept_pixels += pixels;
        if (kept_pixels > kMaxVideoSampledPixels) {
          Fail(what, ": the sampled frames up to frame ", index, " exceed the ", kMaxVideoSampledPixels,
               " pixels g4 holds for one video; ask for fewer frames");
        }
        frames.push_back({ToRgb(frame.get(), scaler, what), index, index / fps});
      }
      ++index;
      av_frame_unref(frame.get());
    }
    if (!done() && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
      Fail(what, ": corrupt ", codec->name, " video at frame ", index, ": ", FfmpegErrorText(rc));
    }
  };
  while (!done() && (rc = av_read_frame(container.format(), packet.get())) >= 0) {
    if (packet->stream_index == stream_index) {
      rc = avcodec_send_packet(decoder.get(), packet.get());
      if (rc < 0 && rc != AVERROR(EAGAIN)) {
        Fail(what, ": corrupt ", codec->name, " video at frame ", index, ": ", FfmpegErrorText(rc));
      }
      drain();
    }
    av_packet_unref(packet.get());
  }
  if (!done()) {
    avcodec_send_packet(decoder.get(), nullptr);
    drain();
  }
  *frames_seen = index;
  return frames;
}

}  // namespace

VideoClip DecodeVideo(const uint8_t* data, size_t size, const std::string& what, const VideoOptions& options) {
  if (options.max_frames < 1 || options.max_frames > kMaxVideoFrames) {
    Fail(what, ": ", options.max_frames, " video frames asked for; g4 samples 1 to ", kMaxVideoFrames);
  }
  MemoryContainer probe(data, size, what);
  const int video = FindVideoStream(probe.format());
  if (video < 0) Fail(what, ": no video stream in this ", probe.format()->iformat->name, " file");
  const AVStream* stream = probe.format()->streams[video];
  // MemoryContainer has already refused frames over kMaxImagePixels.
  const int64_t width = stream->codecpar->width, height = stream->codecpar->height;
  VideoClip clip;
  clip.fps = StreamFps(stream);
  const double declared = media_internal::DeclaredSeconds(probe.format(), stream);
  const int64_t total = CountVideoPackets(probe, video);
  if (total == 0) Fail(what, ": the video stream holds no frames");
  clip.duration_seconds = declared > 0 ? declared : total / clip.fps;
  if (declared > 0 && probe.format()->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE &&
      total / clip.fps + 0.5 + 0.02 * declared < declared) {
    Fail(what, ": truncated: the header promises ", declared, " s of video but the data ends after ", total,
         " frames (", total / clip.fps, " s)");
  }
  const int64_t sampled = std::min<int64_t>(options.max_frames, total);
  if (width * height * sampled > kMaxVideoSampledPixels) {
    Fail(what, ": ", sampled, " frames of ", width, "x", height, " exceed the ", kMaxVideoSampledPixels,
         " pixels g4 holds for one video; ask for fewer frames");
  }

  // Decoding starts from a fresh demuxer on the same bytes (cheaper and surer than seeking).
  std::vector<int64_t> indices = SampleIndices(total, options.max_frames);
  int64_t seen = 0;
  {
    MemoryContainer container(data, size, what);
    clip.frames = DecodeFramesAt(container, video, indices, clip.fps, &seen);
  }
  if (clip.frames.size() < indices.size()) {
    // Fewer frames came out than packets went in: sample again over the frames that exist.
    if (seen == 0) Fail(what, ": no video frame could be decoded");
    indices = SampleIndices(seen, options.max_frames);
    MemoryContainer container(data, size, what);
    clip.frames = DecodeFramesAt(container, video, indices, clip.fps, &seen);
    if (clip.frames.size() < indices.size()) Fail(what, ": the video decodes differently on a second pass");
  }

  if (options.with_audio) {
    MemoryContainer container(data, size, what);
    const int audio = av_find_best_stream(container.format(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    if (audio >= 0) clip.audio = media_internal::DecodeAudioStream(container, audio);
  }
  return clip;
}

VideoClip DecodeVideoFile(const std::string& path, const VideoOptions& options) {
  std::shared_ptr<MappedFile> file = MappedFile::Open(path);
  return DecodeVideo(file->data(), file->size(), path, options);
}

}  // namespace g4
