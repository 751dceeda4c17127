// The server-wide parts every call uses, owned by SquantServer.

#ifndef SQUANT_SERVER_SERVICE_RUNTIME_H_
#define SQUANT_SERVER_SERVICE_RUNTIME_H_

#include "server/call_tracker.h"
#include "server/memory_budget.h"
#include "server/metrics.h"
#include "server/server_config.h"
#include "server/stream_registry.h"
#include "server/worker_pool.h"

namespace squant::server {

struct ServiceRuntime {
  const ServerConfig& config;
  ServiceMetrics& metrics;
  WorkerPool& pool;
  MemoryBudget& budget;
  StreamRegistry& streams;
  CallTracker& calls;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_SERVICE_RUNTIME_H_
