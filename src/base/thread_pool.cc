#include "base/thread_pool.h"

#include <algorithm>
#include <exception>

namespace g4 {

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

namespace {
void PieceBounds(int64_t n, int pieces, int index, int64_t* begin, int64_t* end) {
  const int64_t base = n / pieces;
  const int64_t extra = n % pieces;
  *begin = index * base + std::min<int64_t>(index, extra);
  *end = *begin + base + (index < extra ? 1 : 0);
}
}  // namespace

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  int pieces = static_cast<int>(std::min<int64_t>(n_threads_, (n + grain - 1) / std::max<int64_t>(grain, 1)));
  if (pieces <= 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    job_pieces_ = pieces;
    pending_ = pieces - 1;
    ++generation_;
  }
  wake_.notify_all();
  int64_t begin, end;
  PieceBounds(n, pieces, 0, &begin, &end);
  std::exception_ptr caller_error;
  try {
    fn(begin, end);
  } catch (...) {
    caller_error = std::current_exception();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
  std::exception_ptr error = caller_error ? caller_error : worker_error_;
  worker_error_ = nullptr;
  if (error) std::rethrow_exception(error);
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int64_t, int64_t)>* job;
    int64_t n;
    int pieces;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
      pieces = job_pieces_;
    }
    if (index < pieces) {
      int64_t begin, end;
      PieceBounds(n, pieces, index, &begin, &end);
      std::exception_ptr error;
      try {
        (*job)(begin, end);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (error && !worker_error_) worker_error_ = error;
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

}  // namespace g4
