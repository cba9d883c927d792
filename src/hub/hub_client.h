// The Hugging Face hub's plain file API, as g4 uses it:
//   GET {endpoint}/api/models/{repo}/tree/main?recursive=true   file names, sizes, LFS sha256
//   GET {endpoint}/{repo}/resolve/main/{file}                    file content (Range for resume)
// The endpoint is $HF_ENDPOINT or https://huggingface.co; $HF_TOKEN is sent as a bearer token.
// Failures throw g4::Error with a message that says what to do (HF_TOKEN, --model PATH, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hub/http.h"

namespace g4::hub {

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::string token;
  // $HF_ENDPOINT and $HF_TOKEN (or $HUGGING_FACE_HUB_TOKEN).
  static HubConfig FromEnvironment();
  HttpOptions Http() const;
};

struct RemoteFile {
  std::string path;     // inside the repo, '/'-separated
  uint64_t size = 0;
  std::string sha256;   // LFS object id (lower-case hex); empty for files kept in git
  std::string git_oid;  // git blob SHA-1 of files kept in git
};

// Every file of the repo's main revision. Throws g4::Error (404, 401/403, no network, bad JSON).
std::vector<RemoteFile> ListRepoFiles(const HubConfig& hub, const std::string& repo);

std::string FileUrl(const HubConfig& hub, const std::string& repo, const std::string& path);

// The message for a failed request about `what` ("repository X" or "X/file"), with the advice
// that fits: HF_TOKEN for 401/403, --model PATH and HF_ENDPOINT when the hub cannot be reached.
std::string DescribeFailure(const HubConfig& hub, const std::string& repo, const std::string& file,
                            const HttpResult& result);

}  // namespace g4::hub
