// The model store (include/g4/store.h). Layout under the root:
//   models/OWNER/REPO/FILE             downloaded files (FILE.partial while incomplete)
//   manifests/OWNER/REPO/SELECTOR.json one per pulled name ("_" for no selector), written last
#include "g4/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "hub/downloader.h"
#include "hub/file_selection.h"
#include "hub/hub_client.h"
#include "hub/model_names.h"

namespace g4 {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Runs a store operation; g4::Error, filesystem and manifest errors become the Status message.
Status Guard(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const json::exception& e) {
    return Status::Error(Concat("model store: invalid manifest: ", e.what()));
  } catch (const std::bad_alloc&) {
    return Status::Error("out of memory");
  } catch (const std::exception& e) {  // g4::Error, std::filesystem::filesystem_error
    return Status::Error(e.what());
  }
  return Status::Ok();
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

hub::ModelRef ParseOrFail(const std::string& name) {
  hub::ModelRef ref;
  std::string error;
  if (!hub::ParseModelName(name, &ref, &error)) Fail(error);
  return ref;
}

// "q4_0" -> "q4_0.json"; a file path keeps no '/' in the manifest's name.
std::string ManifestPath(const std::string& root, const hub::ModelRef& ref) {
  std::string key = ref.selector.empty() ? "_" : ref.selector;
  for (char& c : key) {
    if (c == '/') c = '%';
  }
  return root + "/manifests/" + ref.repo + "/" + key + ".json";
}

std::string RepoDir(const std::string& root, const std::string& repo) { return root + "/models/" + repo; }

void WriteFileAtomically(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) Fail(tmp, ": cannot write");
  }
  fs::rename(tmp, path);
}

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail(path, ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

StoredModel FromManifest(const std::string& root, const json& m) {
  StoredModel s;
  s.name = m.value("name", "");
  s.reference = m.value("reference", "");
  s.path = root + "/" + m.value("model_path", "");
  s.format = m.value("format", "");
  s.quant = m.value("quant", "");
  s.variant = m.value("variant", "");
  s.pulled_at = m.value("pulled_at", int64_t{0});
  s.last_used = m.value("last_used", int64_t{0});
  for (const json& f : m.value("files", json::array())) {
    s.files.push_back(root + "/" + f.value("path", ""));
    s.bytes += f.value("size", uint64_t{0});
  }
  return s;
}

// All files of a manifest exist with their recorded sizes.
bool Complete(const std::string& root, const json& m) {
  for (const json& f : m.value("files", json::array())) {
    std::error_code ec;
    const uint64_t size = fs::file_size(root + "/" + f.value("path", ""), ec);
    if (ec || size != f.value("size", uint64_t{0})) return false;
  }
  return true;
}

// An exclusive lock on a repository folder while it is being written.
class RepoLock {
 public:
  explicit RepoLock(const std::string& dir) {
    fs::create_directories(dir);
    fd_ = ::open((dir + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) Fail(dir, "/.lock: cannot open");
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      std::fprintf(stderr, "g4: waiting for another g4 that is writing %s\n", dir.c_str());
      ::flock(fd_, LOCK_EX);
    }
  }
  ~RepoLock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

// Quant (the type holding most weight bytes) and variant, read from the downloaded model.
void Describe(const std::string& path, json* manifest) {
  std::unique_ptr<LoadedModel> model;
  Status st = LoadedModel::Load(path, &model);
  if (!st.ok()) Fail("the downloaded model does not load: ", st.message());
  const ModelSummary s = model->Summary();
  std::string quant;
  uint64_t most = 0;
  for (const auto& [type, count] : s.tensor_types) {
    if (count.bytes > most) {
      most = count.bytes;
      quant = type;
    }
  }
  std::transform(quant.begin(), quant.end(), quant.begin(), [](unsigned char c) { return std::toupper(c); });
  (*manifest)["quant"] = quant;
  (*manifest)["variant"] = s.variant;
}

void CheckDiskSpace(const std::string& dir, uint64_t needed) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return;
  const uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  if (needed > free_bytes) {
    Fail("not enough disk space in ", dir, ": the download needs ", HumanBytes(static_cast<double>(needed)), ", ",
         HumanBytes(static_cast<double>(free_bytes)), " are free. Free some space, or set G4_HOME to a store on "
         "another disk.");
  }
}

StoredModel PullRef(const std::string& root, const hub::ModelRef& ref, const StoreOptions& options) {
  const hub::HubConfig hub = hub::HubConfig::FromEnvironment();
  const std::vector<hub::RemoteFile> listing = hub::ListRepoFiles(hub, ref.repo);
  const hub::FileSelection sel = hub::SelectFiles(ref.repo, listing, ref.selector);
  const std::string repo_dir = RepoDir(root, ref.repo);
  RepoLock lock(repo_dir);

  const std::string manifest_path = ManifestPath(root, ref);
  json old = json::object();
  if (fs::exists(manifest_path)) old = ReadJson(manifest_path);
  std::map<std::string, std::string> old_digest;  // file -> digest recorded at the last pull
  for (const json& f : old.value("files", json::array())) old_digest[f.value("path", "")] = f.value("digest", "");

  std::vector<hub::DownloadItem> items;
  uint64_t total = 0, missing = 0;
  json files = json::array();
  for (const hub::RemoteFile& f : sel.files) {
    hub::DownloadItem item;
    item.file = f;
    item.url = hub::FileUrl(hub, ref.repo, f.path);
    item.dest = repo_dir + "/" + f.path;
    const std::string digest = f.sha256.empty() ? f.git_oid : f.sha256;
    const std::string rel = "models/" + ref.repo + "/" + f.path;
    // The hub has a new version of a file we hold: fetch it again.
    auto it = old_digest.find(rel);
    if (it != old_digest.end() && !it->second.empty() && it->second != digest) fs::remove(item.dest);
    std::error_code ec;
    uint64_t have = fs::file_size(fs::exists(item.dest) ? item.dest : item.dest + ".partial", ec);
    if (ec) have = 0;
    missing += f.size - std::min(f.size, have);
    total += f.size;
    items.push_back(item);
    files.push_back({{"path", rel}, {"size", f.size}, {"digest", digest}});
  }
  CheckDiskSpace(repo_dir, missing);

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  hub::DownloadProgress progress(options.progress ? stderr : nullptr, tty, "pulling " + ref.name, total);
  hub::DownloadOptions dl;
  dl.parallel = options.parallel_downloads;
  dl.retries = options.retries;
  dl.progress = &progress;
  hub::DownloadAll(hub, ref.repo, items, dl);
  progress.Finish();

  json m;
  m["name"] = ref.from_alias ? ref.name : old.value("name", ref.name);
  m["reference"] = ref.Canonical();
  m["repo"] = ref.repo;
  m["selector"] = ref.selector;
  m["format"] = sel.format;
  m["model_path"] = "models/" + ref.repo + (sel.model_path.empty() ? "" : "/" + sel.model_path);
  m["files"] = files;
  m["pulled_at"] = Now();
  m["last_used"] = old.value("last_used", int64_t{0});
  m["endpoint"] = hub.endpoint;
  Describe(root + "/" + m["model_path"].get<std::string>(), &m);
  WriteFileAtomically(manifest_path, m.dump(2) + "\n");
  return FromManifest(root, m);
}

std::vector<std::string> ManifestFiles(const std::string& root) {
  std::vector<std::string> out;
  const fs::path dir = fs::path(root) / "manifests";
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Removes empty folders from `dir` up to (not including) `stop`.
void PruneEmptyDirs(fs::path dir, const fs::path& stop) {
  std::error_code ec;
  while (!dir.empty() && dir != stop && dir.string().size() > stop.string().size()) {
    if (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec)) return;
    fs::remove(dir, ec);
    dir = dir.parent_path();
  }
}

}  // namespace

std::vector<ModelAlias> ModelAliases() {
  std::vector<ModelAlias> out;
  for (const hub::AliasEntry& a : hub::ModelAliases()) {
    hub::ModelRef ref{a.name, a.repo, a.selector, true};
    out.push_back({a.name, ref.Canonical(), a.description});
  }
  return out;
}

bool IsModelName(const std::string& text) { return hub::LooksLikeModelName(text); }

std::string DefaultStoreRoot() {
  if (const char* home = std::getenv("G4_HOME"); home != nullptr && *home != '\0') return home;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') return std::string(xdg) + "/g4";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return std::string(home) + "/.cache/g4";
  return ".g4";
}

ModelStore::ModelStore(StoreOptions options) : options_(std::move(options)) {
  root_ = options_.root.empty() ? DefaultStoreRoot() : options_.root;
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Status ModelStore::Pull(const std::string& name, StoredModel* out) {
  return Guard([&] { *out = PullRef(root_, ParseOrFail(name), options_); });
}

Status ModelStore::Find(const std::string& name, StoredModel* out, bool* found) const {
  return Guard([&] {
    *found = false;
    const std::string path = ManifestPath(root_, ParseOrFail(name));
    if (!fs::exists(path)) return;
    const json m = ReadJson(path);
    if (!Complete(root_, m)) return;
    *out = FromManifest(root_, m);
    *found = true;
  });
}

Status ModelStore::List(std::vector<StoredModel>* out) const {
  return Guard([&] {
    out->clear();
    for (const std::string& path : ManifestFiles(root_)) {
      const json m = ReadJson(path);
      StoredModel s = FromManifest(root_, m);
      if (!Complete(root_, m)) s.quant += " (files missing)";
      out->push_back(s);
    }
  });
}

Status ModelStore::Remove(const std::string& name, StoredModel* removed) {
  return Guard([&] {
    const hub::ModelRef ref = ParseOrFail(name);
    const std::string manifest_path = ManifestPath(root_, ref);
    if (!fs::exists(manifest_path)) Fail(name, " is not in the model store (", root_, "); `g4 list` shows what is");
    RepoLock lock(RepoDir(root_, ref.repo));
    const json m = ReadJson(manifest_path);
    *removed = FromManifest(root_, m);
    fs::remove(manifest_path);
    std::set<std::string> still_used;
    for (const std::string& other : ManifestFiles(root_)) {
      for (const json& f : ReadJson(other).value("files", json::array())) still_used.insert(f.value("path", ""));
    }
    for (const json& f : m.value("files", json::array())) {
      const std::string rel = f.value("path", "");
      if (still_used.count(rel) != 0) continue;
      std::error_code ec;
      fs::remove(root_ + "/" + rel, ec);
      fs::remove(root_ + "/" + rel + ".partial", ec);
      PruneEmptyDirs(fs::path(root_ + "/" + rel).parent_path(), fs::path(root_) / "models" / ref.repo);
    }
    // The repository folder goes when nothing of it is left but its lock file.
    const fs::path repo_dir = RepoDir(root_, ref.repo);
    std::error_code ec;
    bool only_lock = true;
    for (const fs::directory_entry& e : fs::directory_iterator(repo_dir, ec)) only_lock &= e.path().filename() == ".lock";
    if (only_lock) fs::remove(repo_dir / ".lock", ec);
    PruneEmptyDirs(repo_dir, fs::path(root_) / "models");
    PruneEmptyDirs(fs::path(manifest_path).parent_path(), fs::path(root_) / "manifests");
  });
}

Status ModelStore::Resolve(const std::string& name_or_path, std::string* path, bool* pulled) {
  if (pulled != nullptr) *pulled = false;
  std::error_code ec;
  if (fs::exists(name_or_path, ec) || !IsModelName(name_or_path)) {
    *path = name_or_path;  // a path (the loader reports a missing file)
    return Status::Ok();
  }
  StoredModel model;
  bool found = false;
  Status st = Find(name_or_path, &model, &found);
  if (!st.ok()) return st;
  if (!found) {
    st = Pull(name_or_path, &model);
    if (!st.ok()) return st;
    if (pulled != nullptr) *pulled = true;
  }
  *path = model.path;
  return Guard([&] {
    const std::string manifest_path = ManifestPath(root_, ParseOrFail(name_or_path));
    json m = ReadJson(manifest_path);
    m["last_used"] = Now();
    WriteFileAtomically(manifest_path, m.dump(2) + "\n");
  });
}

}  // namespace g4
