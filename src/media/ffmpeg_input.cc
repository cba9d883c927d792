#include "media/ffmpeg_input.h"

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
}

#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <mutex>
#include <vector>

#include "base/error.h"
#include "media/image.h"

namespace g4::media_internal {
namespace {

constexpr int kIoBufferBytes = 64 * 1024;

thread_local std::string last_ffmpeg_error;

void CaptureFfmpegLog(void* context, int level, const char* format, va_list args) {
  if (level > AV_LOG_ERROR) return;
  char line[512];
  int print_prefix = 1;
  av_log_format_line2(context, level, format, args, line, sizeof line, &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) last_ffmpeg_error = text;
}

void InstallLogCapture() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(CaptureFfmpegLog); });
  last_ffmpeg_error.clear();
}

}  // namespace

std::string FfmpegErrorText(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  std::string message = text;
  if (!last_ffmpeg_error.empty()) message += " (FFmpeg: " + last_ffmpeg_error + ")";
  return message;
}

int MemoryContainer::Read(void* opaque, uint8_t* buffer, int capacity) {
  Reader* reader = static_cast<Reader*>(opaque);
  if (reader->position >= reader->size) return AVERROR_EOF;
  const size_t n = std::min(static_cast<size_t>(capacity), reader->size - reader->position);
  std::memcpy(buffer, reader->data + reader->position, n);
  reader->position += n;
  return static_cast<int>(n);
}

int64_t MemoryContainer::Seek(void* opaque, int64_t offset, int whence) {
  Reader* reader = static_cast<Reader*>(opaque);
  const int64_t size = static_cast<int64_t>(reader->size);
  if (whence & AVSEEK_SIZE) return size;
  int64_t target = offset;
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: break;
    case SEEK_CUR: target += static_cast<int64_t>(reader->position); break;
    case SEEK_END: target += size; break;
    default: return AVERROR(EINVAL);
  }
  if (target < 0 || target > size) return AVERROR(EINVAL);
  reader->position = static_cast<size_t>(target);
  return target;
}

MemoryContainer::MemoryContainer(const uint8_t* data, size_t size, const std::string& what)
    : what_(what), reader_{data, size, 0} {
  if (size == 0) Fail(what, ": the file is empty (0 bytes)");
  InstallLogCapture();
  auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferBytes));
  if (buffer == nullptr) Fail(what, ": out of memory for the read buffer");
  io_ = avio_alloc_context(buffer, kIoBufferBytes, 0, &reader_, Read, nullptr, Seek);
  if (io_ == nullptr) {
    av_free(buffer);
    Fail(what, ": out of memory for the reader");
  }
  format_ = avformat_alloc_context();
  if (format_ == nullptr) {
    Release();
    Fail(what, ": out of memory for the demuxer");
  }
  format_->pb = io_;
  format_->flags |= AVFMT_FLAG_CUSTOM_IO;
  int rc = avformat_open_input(&format_, nullptr, nullptr, nullptr);  // frees format_ on failure
  if (rc < 0) {
    const std::string text = FfmpegErrorText(rc);
    Release();
    Fail(what, ": not a media file FFmpeg can read (", size, " bytes): ", text);
  }
  // Probing may decode a frame: frame sizes from the header are checked first, and the
  // decoders FFmpeg probes with are capped too (for formats whose header has no size).
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    const AVCodecParameters* p = format_->streams[i]->codecpar;
    if (p->codec_type == AVMEDIA_TYPE_VIDEO && static_cast<int64_t>(p->width) * p->height > kMaxImagePixels) {
      const int width = p->width, height = p->height;
      Release();
      Fail(what, ": the video claims ", width, "x", height, " frames, more than the ", kMaxImagePixels,
           " pixels g4 decodes; nothing was decoded");
    }
  }
  std::vector<AVDictionary*> probe_options(format_->nb_streams, nullptr);
  for (AVDictionary*& options : probe_options) av_dict_set_int(&options, "max_pixels", kMaxImagePixels, 0);
  rc = avformat_find_stream_info(format_, probe_options.data());
  for (AVDictionary*& options : probe_options) av_dict_free(&options);
  if (rc < 0) {
    const std::string text = FfmpegErrorText(rc);
    const std::string container = format_->iformat->name;
    Release();
    Fail(what, ": cannot read the streams of this ", container, " file: ", text);
  }
}

MemoryContainer::~MemoryContainer() { Release(); }

void MemoryContainer::Release() {
  if (format_ != nullptr) avformat_close_input(&format_);  // leaves the custom pb to us
  if (io_ != nullptr) {
    av_freep(&io_->buffer);
    avio_context_free(&io_);
  }
}

DecoderPtr OpenDecoder(const AVStream* stream, const std::string& what, const char* kind,
                       void (*configure)(AVCodecContext*)) {
  const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (codec == nullptr) {
    Fail(what, ": unsupported ", kind, " codec '", avcodec_get_name(stream->codecpar->codec_id), "'");
  }
  DecoderPtr decoder(avcodec_alloc_context3(codec));
  if (!decoder) Fail(what, ": out of memory for the ", codec->name, " decoder");
  int rc = avcodec_parameters_to_context(decoder.get(), stream->codecpar);
  if (rc >= 0) {
    configure(decoder.get());
    rc = avcodec_open2(decoder.get(), codec, nullptr);
  }
  if (rc < 0) Fail(what, ": cannot open the ", codec->name, " decoder: ", FfmpegErrorText(rc));
  return decoder;
}

double DeclaredSeconds(const AVFormatContext* format, const AVStream* stream) {
  if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0) {
    return static_cast<double>(stream->duration) * av_q2d(stream->time_base);
  }
  if (format->duration != AV_NOPTS_VALUE && format->duration > 0) {
    return static_cast<double>(format->duration) / AV_TIME_BASE;
  }
  return -1.0;
}

}  // namespace g4::media_internal
