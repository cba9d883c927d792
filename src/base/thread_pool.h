// A fixed set of persistent worker threads. ParallelFor splits a range into one contiguous
// piece per thread (the calling thread takes the first), so no threads are created per op.
#pragma once

#include <condition_variable>
#include <exception>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace g4 {

class ThreadPool {
 public:
  // n_threads counts the calling thread; 0 means one per hardware thread.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end) on disjoint, nearly equal pieces covering [0, n); returns when all
  // are done. At most ceil(n / grain) pieces are used, so tiny ranges stay on one thread.
  // If fn throws, the first exception is rethrown here after every piece has finished.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t grain = 1);

 private:
  void WorkerLoop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_pieces_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::exception_ptr worker_error_;
};

}  // namespace g4
