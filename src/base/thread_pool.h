// A fixed set of persistent worker threads. ParallelFor splits a range into one contiguous
// piece per thread (the calling thread takes the first), so no threads are created per op.
//
// A decode step issues hundreds of ParallelFor calls of a few microseconds each, so hand-offs
// must cost far less than a futex round trip: idle workers and the waiting caller spin on an
// atomic for a short while (kSpinIterations pauses, a fraction of a millisecond) before they
// fall back to sleeping on a condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
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
  // Not reentrant: fn must not call ParallelFor on the same pool.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t grain = 1);

  // Like ParallelFor, but threads take chunks of `chunk` indices from a shared counter until
  // none are left, so a thread that is slowed down (another process on its core, a slower
  // memory path) does less of the work instead of holding everyone up. fn must not care which
  // thread runs a chunk.
  void ParallelForDynamic(int64_t n, int64_t chunk, const std::function<void(int64_t begin, int64_t end)>& fn);

  static constexpr int kSpinIterations = 1 << 13;

 private:
  void WorkerLoop(int index);
  void Run(int64_t n, int pieces, int64_t chunk, const std::function<void(int64_t, int64_t)>& fn);
  // Runs this thread's share of the current job: a fixed piece, or chunks from next_chunk_.
  void Work(int index);
  // Waits until value != old (spinning first, then sleeping) and returns the new value.
  template <typename T>
  T WaitWhileEqual(const std::atomic<T>& value, T old);
  void WakeSleepers();

  int n_threads_;
  std::vector<std::thread> workers_;
  // The current job; written by the caller before it bumps generation_, read by the workers
  // after they see the new generation.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_pieces_ = 0;
  int64_t job_chunk_ = 0;  // > 0: dynamic chunks of this size
  std::atomic<int64_t> next_chunk_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};  // workers that have not finished the current generation
  std::atomic<bool> stop_{false};
  // Sleeping after the spin: threads count themselves in sleepers_ under sleep_mutex_, so a
  // notifier that sees sleepers_ == 0 may skip the (comparatively slow) notify.
  std::atomic<int> sleepers_{0};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;
  std::mutex error_mutex_;
  std::exception_ptr worker_error_;
};

}  // namespace g4
