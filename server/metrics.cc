#include "server/metrics.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "prometheus/family.h"

namespace squant::server {
namespace {

struct MethodInfo {
  const char* name;
  const char* type;
};
constexpr std::array<MethodInfo, kRpcMethodCount> kMethods = {{
    {"QuantizeModel", "bidi_stream"},
    {"QuantizeLayer", "unary"},
    {"GetCapabilities", "unary"},
}};

constexpr std::array<Mode, 4> kModes = {Mode::kSquant, Mode::kSquantK,
                                        Mode::kSquantC, Mode::kSquantE};

// Exponential buckets from 25 us to about 10 minutes (x2.5 per bucket):
// a tiny layer to a 70B model's stream.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  prometheus::Histogram::BucketBoundaries buckets;
  for (double bound = 25e-6; bound < 700; bound *= 2.5) {
    buckets.push_back(bound);
  }
  return buckets;
}

prometheus::Labels RpcLabels(const MethodInfo& method) {
  return {{"grpc_type", method.type},
          {"grpc_service", std::string(kServiceName)},
          {"grpc_method", method.name}};
}

}  // namespace

ServiceMetrics::ServiceMetrics(absl::string_view version)
    : registry_(std::make_shared<prometheus::Registry>()) {
  auto& started = prometheus::BuildCounter()
                      .Name("grpc_server_started_total")
                      .Help("RPCs started on the server.")
                      .Register(*registry_);
  auto& handled = prometheus::BuildCounter()
                      .Name("grpc_server_handled_total")
                      .Help("RPCs completed on the server, by status code.")
                      .Register(*registry_);
  auto& handling = prometheus::BuildHistogram()
                       .Name("grpc_server_handling_seconds")
                       .Help(
                           "Time from an RPC's start to its status, in "
                           "seconds.")
                       .Register(*registry_);
  auto& received = prometheus::BuildCounter()
                       .Name("grpc_server_msg_received_total")
                       .Help("Request messages received.")
                       .Register(*registry_);
  auto& sent = prometheus::BuildCounter()
                   .Name("grpc_server_msg_sent_total")
                   .Help("Response messages sent.")
                   .Register(*registry_);
  const auto buckets = LatencyBuckets();
  for (int m = 0; m < kRpcMethodCount; ++m) {
    const prometheus::Labels labels = RpcLabels(kMethods[m]);
    RpcSeries& series = rpc_[m];
    series.started = &started.Add(labels);
    series.msg_received = &received.Add(labels);
    series.msg_sent = &sent.Add(labels);
    series.handling_seconds = &handling.Add(labels, buckets);
    for (int code = 0; code < kGrpcCodeCount; ++code) {
      prometheus::Labels with_code = labels;
      with_code["grpc_code"] =
          std::string(GrpcCodeName(static_cast<grpc::StatusCode>(code)));
      series.handled[code] = &handled.Add(with_code);
    }
  }

  auto& layer_seconds = prometheus::BuildHistogram()
                            .Name("squant_layer_quantize_seconds")
                            .Help(
                                "Time to quantize one layer on the workers, "
                                "in seconds.")
                            .Register(*registry_);
  auto& layers = prometheus::BuildCounter()
                     .Name("squant_layers_total")
                     .Help("Layers quantized.")
                     .Register(*registry_);
  for (int b = 0; b < kBitsCount; ++b) {
    for (int m = 0; m < kModeCount; ++m) {
      const prometheus::Labels labels = {
          {"bits", absl::StrCat(kMinBits + b)},
          {"mode", std::string(ModeName(kModes[m]))}};
      layer_[b][m].quantize_seconds = &layer_seconds.Add(labels, buckets);
      layer_[b][m].layers = &layers.Add(labels);
    }
  }
  queue_seconds_ = &prometheus::BuildHistogram()
                        .Name("squant_layer_queue_seconds")
                        .Help(
                            "Time a complete layer waits for a worker, in "
                            "seconds.")
                        .Register(*registry_)
                        .Add({}, buckets);
  model_seconds_ = &prometheus::BuildHistogram()
                        .Name("squant_model_seconds")
                        .Help(
                            "Duration of QuantizeModel streams that ended "
                            "OK, in seconds.")
                        .Register(*registry_)
                        .Add({}, buckets);
  elements_ = &prometheus::BuildCounter()
                   .Name("squant_elements_total")
                   .Help("Weights quantized.")
                   .Register(*registry_)
                   .Add({});
  received_bytes_ = &prometheus::BuildCounter()
                         .Name("squant_received_bytes_total")
                         .Help("Input tensor bytes received.")
                         .Register(*registry_)
                         .Add({});
  sent_bytes_ = &prometheus::BuildCounter()
                     .Name("squant_sent_bytes_total")
                     .Help("Quantized value bytes sent.")
                     .Register(*registry_)
                     .Add({});
  auto& errors = prometheus::BuildCounter()
                     .Name("squant_errors_total")
                     .Help("Failed calls, by reason.")
                     .Register(*registry_);
  for (int r = 0; r < kErrorReasonCount; ++r) {
    errors_[r] = &errors.Add(
        {{"reason", std::string(ReasonLabel(static_cast<ErrorReason>(r)))}});
  }
  streams_in_flight_ = &prometheus::BuildGauge()
                            .Name("squant_streams_in_flight")
                            .Help("QuantizeModel streams open.")
                            .Register(*registry_)
                            .Add({});
  buffered_bytes_ = &prometheus::BuildGauge()
                         .Name("squant_buffered_bytes")
                         .Help(
                             "Input bytes received and not yet quantized, "
                             "all streams.")
                         .Register(*registry_)
                         .Add({});
  workers_ = &prometheus::BuildGauge()
                  .Name("squant_workers")
                  .Help("Worker threads quantizing layers.")
                  .Register(*registry_)
                  .Add({});
  workers_busy_ = &prometheus::BuildGauge()
                       .Name("squant_workers_busy")
                       .Help("Worker threads running a task.")
                       .Register(*registry_)
                       .Add({});
  prometheus::BuildGauge()
      .Name("squant_build_info")
      .Help("Always 1; the server's version as a label.")
      .Register(*registry_)
      .Add({{"version", std::string(version)}})
      .Set(1);
}

void ServiceMetrics::RpcStarted(RpcMethod method) {
  rpc_[static_cast<int>(method)].started->Increment();
}

void ServiceMetrics::RpcHandled(RpcMethod method, grpc::StatusCode code,
                                double seconds) {
  RpcSeries& series = rpc_[static_cast<int>(method)];
  const int index = static_cast<int>(code);
  series.handled[index >= 0 && index < kGrpcCodeCount ? index : 2]->Increment();
  series.handling_seconds->Observe(seconds);
}

void ServiceMetrics::MessageReceived(RpcMethod method) {
  rpc_[static_cast<int>(method)].msg_received->Increment();
}

void ServiceMetrics::MessageSent(RpcMethod method) {
  rpc_[static_cast<int>(method)].msg_sent->Increment();
}

void ServiceMetrics::LayerQuantized(const QuantOptions& options,
                                    int64_t elements, double quantize_seconds,
                                    double queue_seconds) {
  LayerSeries& series =
      layer_[options.bits - kMinBits][static_cast<int>(options.mode)];
  series.quantize_seconds->Observe(quantize_seconds);
  series.layers->Increment();
  queue_seconds_->Observe(queue_seconds);
  elements_->Increment(static_cast<double>(elements));
}

void ServiceMetrics::ModelQuantized(double seconds) {
  model_seconds_->Observe(seconds);
}

void ServiceMetrics::TensorBytesReceived(int64_t bytes) {
  received_bytes_->Increment(static_cast<double>(bytes));
}

void ServiceMetrics::TensorBytesSent(int64_t bytes) {
  sent_bytes_->Increment(static_cast<double>(bytes));
}

void ServiceMetrics::Error(ErrorReason reason) {
  errors_[static_cast<int>(reason)]->Increment();
}

}  // namespace squant::server
