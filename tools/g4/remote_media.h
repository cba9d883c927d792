// g4 serve --allow-remote-media: http(s) media URLs of requests fetched with the hub's libcurl
// client, bounded in size and time, and handed to the server as data URLs.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "g4/engine.h"

namespace g4::cli {

// A fetcher for ServerOptions::fetch_remote_media: refuses bodies over max_bytes and transfers
// that take longer than timeout_s; errors name the URL and the reason.
std::function<Status(const std::string& url, std::string* data_url)> RemoteMediaFetcher(size_t max_bytes,
                                                                                        int timeout_s);

}  // namespace g4::cli
