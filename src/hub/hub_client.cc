#include "hub/hub_client.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace g4::hub {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// "/"-separated path segments escaped for a URL (keeps the slashes).
std::string EscapePath(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The hub paginates long listings with `Link: <url>; rel="next"`.
std::string NextPage(const HttpResult& r) {
  auto it = r.headers.find("link");
  if (it == r.headers.end() || it->second.find("rel=\"next\"") == std::string::npos) return "";
  const size_t b = it->second.find('<');
  const size_t e = it->second.find('>', b);
  return b == std::string::npos || e == std::string::npos ? "" : it->second.substr(b + 1, e - b - 1);
}

}  // namespace

HubConfig HubConfig::FromEnvironment() {
  HubConfig hub;
  std::string endpoint = Env("HF_ENDPOINT");
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (!endpoint.empty()) hub.endpoint = endpoint;
  hub.token = Env("HF_TOKEN");
  if (hub.token.empty()) hub.token = Env("HUGGING_FACE_HUB_TOKEN");
  return hub;
}

HttpOptions HubConfig::Http() const {
  HttpOptions o;
  o.token = token;
  return o;
}

std::string FileUrl(const HubConfig& hub, const std::string& repo, const std::string& path) {
  return hub.endpoint + "/" + repo + "/resolve/main/" + EscapePath(path);
}

std::string DescribeFailure(const HubConfig& hub, const std::string& repo, const std::string& file,
                            const HttpResult& r) {
  const std::string what = file.empty() ? "repository " + repo : repo + "/" + file;
  switch (r.kind) {
    case HttpResult::Kind::kNetwork:
      return Concat("cannot reach the model hub at ", hub.endpoint, " (", r.error, ") to fetch ", what,
                    ". Without network access, run a model file you already have with --model PATH (-m PATH), "
                    "or set HF_ENDPOINT to a hub mirror you can reach.");
    case HttpResult::Kind::kInterrupted:
      return Concat("the download of ", what, " from ", hub.endpoint, " broke off (", r.error,
                    "); run the same command again to resume it");
    case HttpResult::Kind::kAborted:
      return Concat("the download of ", what, " was stopped");
    case HttpResult::Kind::kOk:
      return Concat(what, ": unexpected answer");
    case HttpResult::Kind::kHttpError:
      break;
  }
  const std::string code = r.headers.count("x-error-code") ? r.headers.at("x-error-code") : "";
  if (r.status == 401) {
    // The hub answers 401 both for private/gated repositories and for ones that do not exist.
    if (hub.token.empty()) {
      return Concat(what, ": the hub at ", hub.endpoint, " answered 401 Unauthorized: the repository does not exist, "
                    "or it is private or gated and needs a token. Set HF_TOKEN to a Hugging Face access token "
                    "(https://huggingface.co/settings/tokens) that can read ", repo, ".");
    }
    return Concat(what, ": the hub at ", hub.endpoint, " answered 401 Unauthorized although HF_TOKEN is set: the token "
                  "is invalid or expired, or the repository does not exist. Check HF_TOKEN and the name ", repo, ".");
  }
  if (r.status == 403) {
    return Concat(what, ": the hub at ", hub.endpoint, " answered 403 Forbidden: ",
                  hub.token.empty() ? "this repository needs an access token; set HF_TOKEN"
                                    : "the token in HF_TOKEN has no access to it",
                  " (for a gated model, accept its license on ", hub.endpoint, "/", repo, " first).");
  }
  if (r.status == 404) {
    if (file.empty() || code == "RepoNotFound") {
      return Concat("repository ", repo, " not found on ", hub.endpoint, " (404). Check the name (hf://OWNER/REPO).");
    }
    return Concat("file ", file, " not found in repository ", repo, " on ", hub.endpoint, " (404)");
  }
  return Concat(what, ": the hub at ", hub.endpoint, " answered HTTP ", r.status,
                r.status == 429 ? " (too many requests; wait a little and try again)" : "",
                r.status >= 500 ? " (a server error; try again later)" : "");
}

std::vector<RemoteFile> ListRepoFiles(const HubConfig& hub, const std::string& repo) {
  std::vector<RemoteFile> files;
  std::string url = hub.endpoint + "/api/models/" + repo + "/tree/main?recursive=true";
  for (int page = 0; !url.empty(); ++page) {
    if (page > 1000) Fail(repo, ": the hub's file listing does not end");
    const HttpResult r = HttpGet(url, hub.Http());
    if (!r.ok()) Fail(DescribeFailure(hub, repo, "", r));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(r.body);
    } catch (const nlohmann::json::exception& e) {
      Fail(repo, ": the hub's file listing at ", url, " is not JSON: ", e.what());
    }
    if (!j.is_array()) Fail(repo, ": the hub's file listing at ", url, " is not a JSON array");
    for (const nlohmann::json& e : j) {
      if (!e.is_object() || e.value("type", "") != "file") continue;
      RemoteFile f;
      f.path = e.value("path", "");
      f.size = e.value("size", uint64_t{0});
      f.git_oid = e.value("oid", "");
      if (e.contains("lfs") && e["lfs"].is_object()) {
        f.sha256 = e["lfs"].value("oid", "");
        f.size = e["lfs"].value("size", f.size);
      }
      if (f.path.empty() || f.path[0] == '/' || f.path.find("..") != std::string::npos) {
        Fail(repo, ": the hub lists an unusable file name '", f.path, "'");
      }
      files.push_back(f);
    }
    url = NextPage(r);
  }
  return files;
}

}  // namespace g4::hub
