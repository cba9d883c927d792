#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace g4::hub {

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  CURL* curl = nullptr;
  uint64_t offset = 0;
  bool streaming = false;  // body goes to `write` (else into result->body)
  bool started = false;
  bool got_body_bytes = false;
  HttpResult* result = nullptr;
  const std::function<bool(uint64_t)>* begin = nullptr;
  const std::function<bool(const char*, size_t)>* write = nullptr;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  // A new status line starts a new response (after a redirect): forget the old headers.
  if (line.rfind("HTTP/", 0) == 0) {
    t->result->headers.clear();
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    const size_t b = value.find_first_not_of(" \t");
    const size_t e = value.find_last_not_of(" \t\r\n");
    value = b == std::string::npos ? "" : value.substr(b, e - b + 1);
    t->result->headers[name] = value;
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  t->got_body_bytes = true;
  if (!t->streaming || status >= 300) {
    if (t->result->body.size() < (1u << 20)) t->result->body.append(data, bytes);
    return bytes;
  }
  if (!t->started) {
    t->started = true;
    const uint64_t start = status == 206 ? t->offset : 0;
    if (!(*t->begin)(start)) return 0;  // CURL_WRITEFUNC_ERROR in newer curl; 0 aborts too
  }
  return (*t->write)(data, bytes) ? bytes : 0;
}

HttpResult Perform(const std::string& url, const HttpOptions& options, Transfer* t) {
  GlobalInit();
  HttpResult result;
  t->result = &result;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    result.kind = HttpResult::Kind::kNetwork;
    result.error = "curl_easy_init failed";
    return result;
  }
  t->curl = curl;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  if (!options.token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + options.token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "g4/0.1 (+libcurl)");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options.stall_timeout_s);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
  // A plain Range header (not CURLOPT_RESUME_FROM, which fails on a server that ignores it): a
  // 200 answer then restarts the file from byte 0.
  const std::string range = std::to_string(t->offset) + "-";
  if (t->offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());

  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  result.error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
  if (code == CURLE_OK) {
    if (result.status >= 400) {
      result.kind = HttpResult::Kind::kHttpError;
    } else {
      result.kind = HttpResult::Kind::kOk;
      // An empty file sends no body: still tell the caller where it starts.
      if (t->streaming && !t->started && (*t->begin)(result.status == 206 ? t->offset : 0) == false) {
        result.kind = HttpResult::Kind::kAborted;
      }
    }
  } else if (code == CURLE_WRITE_ERROR) {
    result.kind = HttpResult::Kind::kAborted;
  } else if (code == CURLE_HTTP_RETURNED_ERROR || (result.status >= 400 && !t->streaming)) {
    result.kind = HttpResult::Kind::kHttpError;
  } else if (result.status == 0 ||
             (!t->got_body_bytes && (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
                                     code == CURLE_COULDNT_RESOLVE_PROXY || code == CURLE_OPERATION_TIMEDOUT ||
                                     code == CURLE_SSL_CONNECT_ERROR || code == CURLE_PEER_FAILED_VERIFICATION))) {
    result.kind = HttpResult::Kind::kNetwork;
  } else if (result.status >= 400) {
    result.kind = HttpResult::Kind::kHttpError;
  } else {
    result.kind = HttpResult::Kind::kInterrupted;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

}  // namespace

HttpResult HttpGet(const std::string& url, const HttpOptions& options) {
  Transfer t;
  return Perform(url, options, &t);
}

HttpResult HttpDownload(const std::string& url, const HttpOptions& options, uint64_t offset,
                        const std::function<bool(uint64_t start)>& begin,
                        const std::function<bool(const char* data, size_t n)>& write) {
  Transfer t;
  t.offset = offset;
  t.streaming = true;
  t.begin = &begin;
  t.write = &write;
  return Perform(url, options, &t);
}

}  // namespace g4::hub
