// squant-server assembled: the gRPC server (QuantizationService, health,
// reflection; TLS when configured), the optional plaintext health-only
// server, the /metrics endpoint and the shared worker pool. main() and the
// tests start it the same way.

#ifndef SQUANT_SERVER_SERVER_H_
#define SQUANT_SERVER_SERVER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/exposer.h"
#include "server/call_tracker.h"
#include "server/memory_budget.h"
#include "server/metrics.h"
#include "server/quantization_service.h"
#include "server/server_config.h"
#include "server/stream_registry.h"
#include "server/worker_pool.h"

namespace squant::server {

class SquantServer {
 public:
  // Binds and starts serving. Ports given as 0 are picked by the system;
  // the accessors tell which. `config.workers` 0 means AvailableCpus().
  static absl::StatusOr<std::unique_ptr<SquantServer>> Start(
      ServerConfig config);
  // Shuts down with no grace if Shutdown() was not called.
  ~SquantServer();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  int health_port() const { return health_port_; }  // 0 when disabled
  const ServerConfig& config() const { return config_; }
  int workers() const { return pool_->size(); }

  // Drains: health turns NOT_SERVING, new calls get UNAVAILABLE, running
  // calls get up to `grace` to end; then the rest are cancelled and the
  // servers stop. Returns once everything has stopped.
  void Shutdown(absl::Duration grace);

  // Input bytes received and not yet quantized (squant_buffered_bytes).
  int64_t buffered_bytes() const { return budget_->buffered_bytes(); }
  int64_t peak_buffered_bytes() const { return budget_->peak_buffered_bytes(); }
  int open_streams() { return calls_->open_streams(); }

 private:
  explicit SquantServer(ServerConfig config);
  absl::Status Build();

  // The destructor joins the pool first; the rest goes in reverse order.
  ServerConfig config_;
  std::unique_ptr<ServiceMetrics> metrics_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<MemoryBudget> budget_;
  std::unique_ptr<CallTracker> calls_;
  std::unique_ptr<StreamRegistry> streams_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<ServiceRuntime> runtime_;
  std::unique_ptr<QuantizationService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;
  int port_ = 0;
  int metrics_port_ = 0;
  int health_port_ = 0;
  bool stopped_ = false;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_SERVER_H_
