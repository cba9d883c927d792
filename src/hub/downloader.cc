#include "hub/downloader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "hub/digest.h"

namespace g4::hub {

namespace fs = std::filesystem;

namespace {

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::unique_ptr<Digest> NewDigest(const RemoteFile& f) {
  if (!f.sha256.empty()) return std::make_unique<Digest>(Digest::Kind::kSha256, f.size);
  if (!f.git_oid.empty()) return std::make_unique<Digest>(Digest::Kind::kGitBlobSha1, f.size);
  return nullptr;
}

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};

// One file: resume or start FILE.partial, verify, rename. Throws g4::Error.
void DownloadOne(const HubConfig& hub, const std::string& repo, const DownloadItem& item,
                 const DownloadOptions& options, const std::atomic<bool>& stop) {
  const RemoteFile& f = item.file;
  DownloadProgress* progress = options.progress;
  if (FileSize(item.dest) == f.size && fs::exists(item.dest)) {
    // Verified before it was renamed into place by an earlier pull.
    if (progress != nullptr) {
      progress->FileStarted(f.path, f.size, f.size);
      progress->FileVerified(f.path, f.size, "already present");
    }
    return;
  }
  fs::create_directories(fs::path(item.dest).parent_path());
  const std::string partial = item.dest + ".partial";
  uint64_t have = FileSize(partial);
  if (have > f.size) {
    fs::remove(partial);
    have = 0;
  }
  std::unique_ptr<Digest> digest = NewDigest(f);
  if (have > 0 && digest != nullptr && !HashFilePrefix(partial, have, digest.get())) {
    Fail(partial, ": cannot read the partial download");
  }
  if (progress != nullptr) progress->FileStarted(f.path, f.size, have);

  for (int attempt = 0; have < f.size; ++attempt) {
    std::unique_ptr<std::FILE, FileCloser> out(std::fopen(partial.c_str(), have > 0 ? "ab" : "wb"));
    if (!out) Fail(partial, ": cannot open for writing");
    bool write_failed = false;
    uint64_t received = 0;
    auto begin = [&](uint64_t start) {
      if (start == have) return true;
      // The server ignored the Range request: start the file over.
      if (progress != nullptr) progress->Restarted(have);
      out.reset(std::fopen(partial.c_str(), "wb"));
      digest = NewDigest(f);
      have = 0;
      return out != nullptr;
    };
    auto write = [&](const char* data, size_t n) {
      if (stop.load()) return false;
      if (have + received + n > f.size) return false;  // more than the listing said
      if (std::fwrite(data, 1, n, out.get()) != n) {
        write_failed = true;
        return false;
      }
      if (digest != nullptr) digest->Update(data, n);
      received += n;
      if (progress != nullptr) progress->Add(n);
      return true;
    };
    const HttpResult r = HttpDownload(item.url, hub.Http(), have, begin, write);
    if (std::fflush(out.get()) != 0) write_failed = true;
    out.reset();
    have += received;
    if (write_failed) Fail(partial, ": cannot write (disk full?)");
    if (r.kind == HttpResult::Kind::kAborted) {
      if (stop.load()) Fail("stopped");
      Fail(repo, "/", f.path, ": the server sent more than the ", f.size, " bytes the hub listed");
    }
    const bool retryable = r.kind == HttpResult::Kind::kInterrupted ||
                           (r.kind == HttpResult::Kind::kNetwork && attempt > 0) ||
                           (r.kind == HttpResult::Kind::kHttpError && (r.status >= 500 || r.status == 429)) ||
                           (r.kind == HttpResult::Kind::kOk && have < f.size);
    if (r.kind == HttpResult::Kind::kOk && have == f.size) break;
    if (!retryable || attempt >= options.retries || stop.load()) {
      if (r.kind == HttpResult::Kind::kOk) {
        Fail(repo, "/", f.path, ": the download ended at ", have, " of ", f.size,
             " bytes; run the same command again to resume it");
      }
      Fail(DescribeFailure(hub, repo, f.path, r));
    }
    if (progress != nullptr) {
      progress->Message("transfer of " + f.path + " broke off at " + HumanBytes(static_cast<double>(have)) + " (" +
                        r.error + "); resuming");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250 << std::min(attempt, 4)));
  }

  if (FileSize(partial) != f.size) {
    Fail(partial, ": ", FileSize(partial), " bytes on disk, the hub lists ", f.size);
  }
  std::string how = "size checked";
  if (digest != nullptr) {
    const std::string got = digest->HexFinal();
    const std::string& want = f.sha256.empty() ? f.git_oid : f.sha256;
    if (got != want) {
      fs::remove(partial);
      Fail(repo, "/", f.path, ": checksum mismatch (", f.sha256.empty() ? "git SHA-1" : "sha256", " expected ", want,
           ", got ", got, "). The corrupt download was deleted; run the same command again.");
    }
    how = f.sha256.empty() ? "git SHA-1 verified" : "sha256 verified";
  }
  fs::rename(partial, item.dest);
  if (progress != nullptr) progress->FileVerified(f.path, f.size, how);
}

}  // namespace

void DownloadAll(const HubConfig& hub, const std::string& repo, const std::vector<DownloadItem>& items,
                 const DownloadOptions& options) {
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::string first_error;
  auto worker = [&] {
    for (size_t i = next++; i < items.size(); i = next++) {
      if (stop.load()) return;
      try {
        DownloadOne(hub, repo, items[i], options, stop);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.empty()) first_error = e.what();
        stop = true;
        return;
      }
    }
  };
  const int n_threads = std::max(1, std::min<int>(options.parallel, static_cast<int>(items.size())));
  std::vector<std::thread> threads;
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  if (!first_error.empty()) Fail(first_error);
}

}  // namespace g4::hub
