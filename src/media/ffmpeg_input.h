// Shared plumbing for the FFmpeg-based decoders (audio.cc, video.cc): a container opened from
// bytes in memory through a custom AVIOContext, FFmpeg's log kept off stderr, and FFmpeg error
// codes turned into messages. Internal to src/media.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "media/audio.h"

namespace g4::media_internal {

struct FfmpegDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
  void operator()(AVFrame* f) const { av_frame_free(&f); }
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
using DecoderPtr = std::unique_ptr<AVCodecContext, FfmpegDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FfmpegDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, FfmpegDeleter>;

// FFmpeg's text for an error code, plus the last error FFmpeg logged on this thread (its log is
// captured instead of printed, so a server's stderr stays clean).
std::string FfmpegErrorText(int code);

// A container demuxed from memory. The bytes must outlive the object.
class MemoryContainer {
 public:
  // Opens and probes the container; throws g4::Error naming `what` when FFmpeg cannot read it.
  MemoryContainer(const uint8_t* data, size_t size, const std::string& what);
  ~MemoryContainer();
  MemoryContainer(const MemoryContainer&) = delete;
  MemoryContainer& operator=(const MemoryContainer&) = delete;

  AVFormatContext* format() const { return format_; }
  const std::string& what() const { return what_; }

 private:
  struct Reader {
    const uint8_t* data;
    size_t size;
    size_t position;
  };
  void Release();
  static int Read(void* opaque, uint8_t* buffer, int capacity);
  static int64_t Seek(void* opaque, int64_t offset, int whence);

  std::string what_;
  Reader reader_;
  AVIOContext* io_ = nullptr;
  AVFormatContext* format_ = nullptr;
};

// Opens a decoder for `stream` ("audio" or "video" `kind`, for messages); `configure` may set
// options before it opens. Throws g4::Error naming `what` for a codec FFmpeg lacks.
DecoderPtr OpenDecoder(const AVStream* stream, const std::string& what, const char* kind,
                       void (*configure)(AVCodecContext*));

// Decodes audio stream `stream_index` of an open container to mono 16 kHz float (the whole
// stream; other streams' packets are skipped). Throws g4::Error naming the container's `what`.
AudioClip DecodeAudioStream(MemoryContainer& container, int stream_index);

// Throws g4::Error naming `what` when a RIFF/WAVE file's data chunk runs past the end of `data`.
void CheckWavDataComplete(const uint8_t* data, size_t size, const std::string& what);

// Seconds a stream's header claims, or a negative value when it claims nothing.
double DeclaredSeconds(const AVFormatContext* format, const AVStream* stream);

}  // namespace g4::media_internal
