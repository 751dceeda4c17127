// The server-wide account of input bytes received and not yet quantized,
// behind --global_buffer_bytes. Streams consult it before each read.

#ifndef SQUANT_SERVER_MEMORY_BUDGET_H_
#define SQUANT_SERVER_MEMORY_BUDGET_H_

#include <atomic>
#include <cstdint>

#include "prometheus/gauge.h"

namespace squant::server {

class MemoryBudget {
 public:
  // `buffered_bytes` (squant_buffered_bytes) mirrors the account.
  MemoryBudget(int64_t cap_bytes, prometheus::Gauge& buffered_bytes)
      : cap_bytes_(cap_bytes), gauge_(buffered_bytes) {}

  void AddBuffered(int64_t bytes);
  void ReleaseBuffered(int64_t bytes);
  // Complete layers waiting for or running on a worker, all streams.
  void LayerQueued() { queued_layers_.fetch_add(1); }
  void LayerDone() { queued_layers_.fetch_sub(1); }

  // Reading more is allowed under the cap, and also over it when no layer
  // is queued: then only reading can complete a layer and free memory, and
  // stopping would deadlock.
  bool AllowsRead() const {
    return buffered_.load() <= cap_bytes_ || queued_layers_.load() == 0;
  }
  int64_t buffered_bytes() const { return buffered_.load(); }
  // The most buffered_bytes() has been since the server started.
  int64_t peak_buffered_bytes() const { return peak_.load(); }

 private:
  const int64_t cap_bytes_;
  prometheus::Gauge& gauge_;
  std::atomic<int64_t> buffered_{0};
  std::atomic<int64_t> peak_{0};
  std::atomic<int64_t> queued_layers_{0};
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_MEMORY_BUDGET_H_
