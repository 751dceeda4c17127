#include "server/memory_budget.h"

namespace squant::server {

void MemoryBudget::AddBuffered(int64_t bytes) {
  buffered_.fetch_add(bytes);
  gauge_.Increment(static_cast<double>(bytes));
}

void MemoryBudget::ReleaseBuffered(int64_t bytes) {
  buffered_.fetch_sub(bytes);
  gauge_.Decrement(static_cast<double>(bytes));
}

}  // namespace squant::server
