// A small libcurl client for the hub's file API: GET a JSON document, or stream a file's bytes
// from an offset (HTTP Range). libcurl honours the proxy variables (https_proxy, http_proxy,
// no_proxy, all_proxy) by itself; redirects are followed (the hub sends file content from a CDN).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace g4::hub {

struct HttpOptions {
  std::string token;          // sent as "Authorization: Bearer TOKEN" when not empty
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;  // abort when no byte arrives for this long
};

struct HttpResult {
  enum class Kind {
    kOk,           // 2xx and the whole body received
    kHttpError,    // the server answered with status >= 400
    kNetwork,      // no connection: DNS, refused, TLS, timeout before any response
    kInterrupted,  // the response started but the transfer broke off
    kAborted,      // the caller's sink asked to stop
  };
  Kind kind = Kind::kOk;
  long status = 0;
  std::string error;                          // curl's description when kind is not kOk/kHttpError
  std::string body;                           // text bodies, and the body of an error response
  std::map<std::string, std::string> headers;  // lower-case names, of the last response
  bool ok() const { return kind == Kind::kOk; }
};

// GETs `url` into result.body.
HttpResult HttpGet(const std::string& url, const HttpOptions& options);

// Streams `url` starting at byte `offset`. `begin(start)` is called once before the first
// byte with the offset the body really starts at (0 when the server ignored the Range
// request); `write` receives the bytes. Either returning false stops the transfer (kAborted).
// The bodies of error responses go to result.body, never to `write`.
HttpResult HttpDownload(const std::string& url, const HttpOptions& options, uint64_t offset,
                        const std::function<bool(uint64_t start)>& begin,
                        const std::function<bool(const char* data, size_t n)>& write);

}  // namespace g4::hub
