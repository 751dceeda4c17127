#include "server/memory_budget.h"

namespace squant::server {

void MemoryBudget::AddBuffered(int64_t bytes) {
  const int64_t now = buffered_.fetch_add(bytes) + bytes;
  for (int64_t peak = peak_.load(); now > peak;) {
    if (peak_.compare_exchange_weak(peak, now)) break;
  }
  gauge_.Increment(static_cast<double>(bytes));
}

void MemoryBudget::ReleaseBuffered(int64_t bytes) {
  buffered_.fetch_sub(bytes);
  gauge_.Decrement(static_cast<double>(bytes));
}

}  // namespace squant::server
