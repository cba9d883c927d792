// The hand-off between the scheduler thread, which produces a request's stream pieces and its
// result, and the HTTP thread that writes them to the client.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "engine/sequence_decoder.h"

namespace g4 {

class RequestChannel {
 public:
  // Scheduler side.
  void Push(std::string piece) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pieces_.push_back(std::move(piece));
    }
    ready_.notify_all();
  }
  void Finish(GenerateResult result, std::string error) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      result_ = std::move(result);
      error_ = std::move(error);
      finished_ = true;
    }
    ready_.notify_all();
  }

  // HTTP side: waits up to `timeout` for pieces or the end. Returns the pieces taken (maybe
  // none) and sets *finished once the result is there and every piece was taken.
  std::deque<std::string> Take(std::chrono::milliseconds timeout, bool* finished) {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait_for(lock, timeout, [&] { return !pieces_.empty() || finished_; });
    std::deque<std::string> out;
    out.swap(pieces_);
    *finished = finished_;
    return out;
  }
  void WaitFinished() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return finished_; });
  }
  // Valid once finished.
  const GenerateResult& result() const { return result_; }
  const std::string& error() const { return error_; }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::string> pieces_;
  bool finished_ = false;
  GenerateResult result_;
  std::string error_;
};

}  // namespace g4
