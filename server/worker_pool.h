// A fixed set of threads running tasks first in, first out. All quantization
// runs here, never on gRPC's callback threads (which must not block).

#ifndef SQUANT_SERVER_WORKER_POOL_H_
#define SQUANT_SERVER_WORKER_POOL_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "prometheus/gauge.h"

namespace squant::server {

class WorkerPool {
 public:
  // `busy_workers`, when given, tracks how many threads run a task.
  WorkerPool(int workers, prometheus::Gauge* busy_workers);
  // Runs every task already submitted, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(absl::AnyInvocable<void() &&> task);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Work();

  prometheus::Gauge* const busy_workers_;
  std::mutex mu_;
  std::condition_variable task_ready_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_WORKER_POOL_H_
