#include "remote_media.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "base/error.h"
#include "hub/http.h"
#include "media_flags.h"

namespace g4::cli {

std::function<Status(const std::string& url, std::string* data_url)> RemoteMediaFetcher(size_t max_bytes,
                                                                                        int timeout_s) {
  return [max_bytes, timeout_s](const std::string& url, std::string* data_url) {
    hub::HttpOptions options;
    options.connect_timeout_s = std::min(timeout_s, 10);
    options.stall_timeout_s = timeout_s;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::string bytes;
    bool too_large = false, too_slow = false;
    const hub::HttpResult r = hub::HttpDownload(
        url, options, 0, [](uint64_t) { return true; },
        [&](const char* data, size_t n) {
          too_large = bytes.size() + n > max_bytes;
          too_slow = std::chrono::steady_clock::now() > deadline;
          if (too_large || too_slow) return false;
          bytes.append(data, n);
          return true;
        });
    if (too_large) return Status::Error(Concat("fetching ", url, ": the file is larger than ", max_bytes, " bytes"));
    if (too_slow) return Status::Error(Concat("fetching ", url, ": took longer than ", timeout_s, " s"));
    if (r.kind == hub::HttpResult::Kind::kHttpError) {
      return Status::Error(Concat("fetching ", url, ": the server answered HTTP ", r.status));
    }
    if (!r.ok()) return Status::Error(Concat("fetching ", url, ": ", r.error));
    if (bytes.empty()) return Status::Error(Concat("fetching ", url, ": the file is empty"));
    // The decoders look at the bytes, not the type; it is kept for the data URL's sake.
    const auto type = r.headers.find("content-type");
    std::string mime;
    for (char c : type == r.headers.end() ? std::string() : type->second.substr(0, type->second.find(';'))) {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '+' || c == '.' || c == '-') mime += c;
    }
    // Servers often label media loosely (binary/octet-stream, text/plain); the engine checks only
    // media types against the part, so anything else travels as plain bytes.
    if (mime.rfind("image/", 0) != 0 && mime.rfind("video/", 0) != 0 && mime.rfind("audio/", 0) != 0) {
      mime = "application/octet-stream";
    }
    *data_url = "data:" + mime + ";base64," + Base64(bytes);
    return Status::Ok();
  };
}

}  // namespace g4::cli
