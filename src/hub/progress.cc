#include "hub/progress.h"

#include <algorithm>

namespace g4::hub {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Duration(double s) {
  if (!(s >= 0) || s > 99 * 3600) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  }
  return buf;
}

}  // namespace

DownloadProgress::DownloadProgress(std::FILE* out, bool tty, std::string label, uint64_t total_bytes)
    : out_(out), tty_(tty), label_(std::move(label)), total_(total_bytes), start_(Clock::now()), last_line_(start_) {
  if (out_ != nullptr && tty_) thread_ = std::thread([this] { Loop(); });
}

DownloadProgress::~DownloadProgress() { Finish(false); }

void DownloadProgress::FileStarted(const std::string& file, uint64_t size, uint64_t already) {
  done_ += already;
  if (out_ == nullptr || tty_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (already > 0) {
    std::fprintf(out_, "%s: resuming %s at %s of %s\n", label_.c_str(), file.c_str(),
                 HumanBytes(static_cast<double>(already)).c_str(), HumanBytes(static_cast<double>(size)).c_str());
  } else {
    std::fprintf(out_, "%s: downloading %s (%s)\n", label_.c_str(), file.c_str(),
                 HumanBytes(static_cast<double>(size)).c_str());
  }
  std::fflush(out_);
}

void DownloadProgress::Add(uint64_t bytes) {
  done_ += bytes;
  fetched_ += bytes;
  if (out_ == nullptr || tty_ || total_ == 0) return;
  // Plain output: a line at each new tenth, or every 10 s while slow.
  const int decile = static_cast<int>(10 * done_.load() / total_);
  std::lock_guard<std::mutex> lock(mu_);
  if (decile > last_decile_ || Seconds(Clock::now() - last_line_) >= 10) {
    last_decile_ = std::max(decile, last_decile_);
    last_line_ = Clock::now();
    if (decile < 10) {
      std::fprintf(out_, "%s: %s\n", label_.c_str(), StatusText(Seconds(Clock::now() - start_)).c_str());
      std::fflush(out_);
    }
  }
}

void DownloadProgress::Restarted(uint64_t bytes) { done_ -= std::min<uint64_t>(bytes, done_.load()); }

void DownloadProgress::FileVerified(const std::string& file, uint64_t size, const std::string& how) {
  Message(file + " (" + HumanBytes(static_cast<double>(size)) + ") " + how);
}

void DownloadProgress::Message(const std::string& line) {
  if (out_ == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (tty_ && bar_shown_) std::fputs("\r\x1b[K", out_);
  std::fprintf(out_, "%s: %s\n", label_.c_str(), line.c_str());
  if (tty_ && bar_shown_) Draw(false);
  std::fflush(out_);
}

std::string DownloadProgress::StatusText(double seconds) const {
  const uint64_t done = std::min(done_.load(), total_);
  const double speed = seconds > 0 ? static_cast<double>(fetched_.load()) / seconds : 0;
  const double eta = speed > 0 ? static_cast<double>(total_ - done) / speed : -1;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%3d%%  %s / %s  %s/s  ETA %s",
                total_ > 0 ? static_cast<int>(100 * done / total_) : 100, HumanBytes(static_cast<double>(done)).c_str(),
                HumanBytes(static_cast<double>(total_)).c_str(), HumanBytes(speed).c_str(), Duration(eta).c_str());
  return buf;
}

// Caller holds mu_.
void DownloadProgress::Draw(bool final_line) {
  const uint64_t done = std::min(done_.load(), total_);
  const int width = 24;
  const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  std::fprintf(out_, "\r\x1b[K%s [%s] %s%s", label_.c_str(), bar.c_str(), StatusText(Seconds(Clock::now() - start_)).c_str(),
               final_line ? "\n" : "");
  bar_shown_ = !final_line;
  std::fflush(out_);
}

void DownloadProgress::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    Draw(false);
    cv_.wait_for(lock, std::chrono::milliseconds(200));
  }
}

void DownloadProgress::Finish(bool completed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (out_ == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (tty_) {
    if (bar_shown_ && completed) {
      Draw(true);
    } else if (bar_shown_) {
      std::fputs("\n", out_);
    }
  } else if (completed && fetched_.load() > 0) {
    std::fprintf(out_, "%s: %s\n", label_.c_str(), StatusText(Seconds(Clock::now() - start_)).c_str());
  }
  std::fflush(out_);
}

}  // namespace g4::hub
