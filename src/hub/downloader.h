// Downloads a set of hub files into place, a few at a time. Each file is written to
// FILE.partial, resumed from that file's size (HTTP Range) after an interruption, checked
// against the size and checksum the hub published (LFS sha256, or the git blob SHA-1), and only
// then renamed to FILE. A checksum mismatch deletes the .partial file.
#pragma once

#include <string>
#include <vector>

#include "hub/hub_client.h"
#include "hub/progress.h"

namespace g4::hub {

struct DownloadItem {
  RemoteFile file;
  std::string url;
  std::string dest;  // final path
};

struct DownloadOptions {
  int parallel = 4;  // files at once
  int retries = 3;   // resumes after a broken-off transfer, per file
  DownloadProgress* progress = nullptr;
};

// Throws g4::Error naming the first file that failed and why; files already verified stay.
void DownloadAll(const HubConfig& hub, const std::string& repo, const std::vector<DownloadItem>& items,
                 const DownloadOptions& options);

}  // namespace g4::hub
