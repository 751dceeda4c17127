#include "server/worker_pool.h"

#include <algorithm>
#include <utility>

namespace squant::server {

WorkerPool::WorkerPool(int workers, prometheus::Gauge* busy_workers)
    : busy_workers_(busy_workers) {
  const int count = std::max(workers, 1);
  threads_.reserve(count);
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  task_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void WorkerPool::Submit(absl::AnyInvocable<void() &&> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  task_ready_.notify_one();
}

void WorkerPool::Work() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      task_ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and nothing left to run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    if (busy_workers_ != nullptr) busy_workers_->Increment();
    std::move(task)();
    if (busy_workers_ != nullptr) busy_workers_->Decrement();
  }
}

}  // namespace squant::server
