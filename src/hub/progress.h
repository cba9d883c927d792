// Download progress: on a terminal one redrawn bar with bytes, speed and ETA; otherwise plain
// lines (each file started and verified, and a summary line every 10% or 10 seconds).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "base/human_bytes.h"

namespace g4::hub {

class DownloadProgress {
 public:
  // out == nullptr: silent. `tty` picks the bar over plain lines.
  DownloadProgress(std::FILE* out, bool tty, std::string label, uint64_t total_bytes);
  ~DownloadProgress();

  // `already` bytes of the file were there before (a resumed .partial).
  void FileStarted(const std::string& file, uint64_t size, uint64_t already);
  void Add(uint64_t bytes);       // thread-safe
  void Restarted(uint64_t bytes);  // bytes counted before that must be downloaded again
  void FileVerified(const std::string& file, uint64_t size, const std::string& how);
  void Message(const std::string& line);
  // Ends the display; the closing summary line only when the download completed.
  void Finish(bool completed = true);

 private:
  void Loop();
  void Draw(bool final_line);
  std::string StatusText(double seconds) const;

  std::FILE* out_;
  bool tty_;
  std::string label_;
  uint64_t total_;
  std::atomic<uint64_t> done_{0};       // bytes present, resumed ones included
  std::atomic<uint64_t> fetched_{0};    // bytes transferred by this process
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool bar_shown_ = false;
  int last_decile_ = 0;
  std::chrono::steady_clock::time_point last_line_;
  std::thread thread_;
};

}  // namespace g4::hub
