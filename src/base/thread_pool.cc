#include "base/thread_pool.h"

#include <algorithm>
#include <exception>

namespace g4 {

namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void PieceBounds(int64_t n, int pieces, int index, int64_t* begin, int64_t* end) {
  const int64_t base = n / pieces;
  const int64_t extra = n % pieces;
  *begin = index * base + std::min<int64_t>(index, extra);
  *end = *begin + base + (index < extra ? 1 : 0);
}

}  // namespace

template <typename T>
T ThreadPool::WaitWhileEqual(const std::atomic<T>& value, T old) {
  for (int i = 0; i < kSpinIterations; ++i) {
    const T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
    CpuRelax();
  }
  std::unique_lock<std::mutex> lock(sleep_mutex_);
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  T now;
  sleep_cv_.wait(lock, [&] { return (now = value.load(std::memory_order_seq_cst)) != old; });
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return now;
}

// Called after changing an atomic others may wait on. A sleeper registered itself and then
// re-checked the value while holding the mutex, so taking the mutex here before notifying
// cannot miss it.
void ThreadPool::WakeSleepers() {
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
  { std::lock_guard<std::mutex> lock(sleep_mutex_); }
  sleep_cv_.notify_all();
}

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  WakeSleepers();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  const int pieces = static_cast<int>(std::min<int64_t>(n_threads_, (n + grain - 1) / std::max<int64_t>(grain, 1)));
  if (pieces <= 1) {
    fn(0, n);
    return;
  }
  Run(n, pieces, 0, fn);
}

void ThreadPool::ParallelForDynamic(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(chunk, 1);
  if (n_threads_ == 1 || n <= chunk) {
    for (int64_t begin = 0; begin < n; begin += chunk) fn(begin, std::min(n, begin + chunk));
    return;
  }
  Run(n, n_threads_, chunk, fn);
}

void ThreadPool::Work(int index) {
  if (job_chunk_ == 0) {
    if (index >= job_pieces_) return;
    int64_t begin, end;
    PieceBounds(job_n_, job_pieces_, index, &begin, &end);
    (*job_)(begin, end);
    return;
  }
  while (true) {
    const int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    const int64_t begin = c * job_chunk_;
    if (begin >= job_n_) return;
    (*job_)(begin, std::min(job_n_, begin + job_chunk_));
  }
}

void ThreadPool::Run(int64_t n, int pieces, int64_t chunk, const std::function<void(int64_t, int64_t)>& fn) {
  job_ = &fn;
  job_n_ = n;
  job_pieces_ = pieces;
  job_chunk_ = chunk;
  next_chunk_.store(0, std::memory_order_relaxed);
  // Every worker acknowledges every generation, even without a piece, so none can still be
  // reading this job's fields when the next call overwrites them.
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  WakeSleepers();

  std::exception_ptr caller_error;
  try {
    Work(0);
  } catch (...) {
    caller_error = std::current_exception();
  }
  for (int left = pending_.load(std::memory_order_acquire); left != 0;) left = WaitWhileEqual(pending_, left);
  job_ = nullptr;
  std::exception_ptr error = caller_error;
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!error) error = worker_error_;
    worker_error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::WorkerLoop(int index) {
  uint32_t seen = 0;
  while (true) {
    seen = WaitWhileEqual(generation_, seen);
    if (stop_.load(std::memory_order_acquire)) return;
    try {
      Work(index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!worker_error_) worker_error_ = std::current_exception();
    }
    if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1) WakeSleepers();
  }
}

}  // namespace g4
