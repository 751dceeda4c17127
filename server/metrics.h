// The server's Prometheus metrics. Names and labels are a contract with the
// dashboards and alerts in deploy/: the gRPC ecosystem's standard
// grpc_server_* families plus squant_* service metrics. Every labelled
// series is created once here, so recording is a lock-free atomic update.

#ifndef SQUANT_SERVER_METRICS_H_
#define SQUANT_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "core/squant.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/status_mapping.h"

namespace squant::server {

inline constexpr absl::string_view kServiceName =
    "squant.v1.QuantizationService";

enum class RpcMethod { kQuantizeModel, kQuantizeLayer, kGetCapabilities };
inline constexpr int kRpcMethodCount = 3;

class ServiceMetrics {
 public:
  // `version` labels squant_build_info.
  explicit ServiceMetrics(absl::string_view version);
  ServiceMetrics(const ServiceMetrics&) = delete;
  ServiceMetrics& operator=(const ServiceMetrics&) = delete;

  // What the Exposer serves.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // grpc_server_*.
  void RpcStarted(RpcMethod method);
  void RpcHandled(RpcMethod method, grpc::StatusCode code, double seconds);
  void MessageReceived(RpcMethod method);
  void MessageSent(RpcMethod method);

  // squant_*.
  void LayerQuantized(const QuantOptions& options, int64_t elements,
                      double quantize_seconds, double queue_seconds);
  void ModelQuantized(double seconds);
  void TensorBytesReceived(int64_t bytes);
  void TensorBytesSent(int64_t bytes);
  void Error(ErrorReason reason);

  prometheus::Gauge& streams_in_flight() { return *streams_in_flight_; }
  prometheus::Gauge& buffered_bytes() { return *buffered_bytes_; }
  prometheus::Gauge& workers() { return *workers_; }
  prometheus::Gauge& workers_busy() { return *workers_busy_; }

 private:
  struct RpcSeries {
    prometheus::Counter* started = nullptr;
    prometheus::Counter* msg_received = nullptr;
    prometheus::Counter* msg_sent = nullptr;
    prometheus::Histogram* handling_seconds = nullptr;
    std::array<prometheus::Counter*, kGrpcCodeCount> handled{};
  };
  static constexpr int kModeCount = 4;
  static constexpr int kBitsCount = kMaxBits - kMinBits + 1;
  struct LayerSeries {
    prometheus::Histogram* quantize_seconds = nullptr;
    prometheus::Counter* layers = nullptr;
  };

  std::shared_ptr<prometheus::Registry> registry_;
  std::array<RpcSeries, kRpcMethodCount> rpc_;
  std::array<std::array<LayerSeries, kModeCount>, kBitsCount> layer_;
  prometheus::Histogram* queue_seconds_ = nullptr;
  prometheus::Histogram* model_seconds_ = nullptr;
  prometheus::Counter* elements_ = nullptr;
  prometheus::Counter* received_bytes_ = nullptr;
  prometheus::Counter* sent_bytes_ = nullptr;
  std::array<prometheus::Counter*, kErrorReasonCount> errors_{};
  prometheus::Gauge* streams_in_flight_ = nullptr;
  prometheus::Gauge* buffered_bytes_ = nullptr;
  prometheus::Gauge* workers_ = nullptr;
  prometheus::Gauge* workers_busy_ = nullptr;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_METRICS_H_
