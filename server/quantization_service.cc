#include "server/quantization_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/layer_job.h"
#include "server/layer_plan.h"
#include "server/logging.h"
#include "server/model_stream.h"
#include "server/status_mapping.h"
#include "server/version.h"

namespace squant::server {
namespace {

// Records a unary call's end (metrics, a log line on error) and finishes it.
void FinishUnary(ServiceMetrics& metrics, RpcMethod method,
                 grpc::CallbackServerContext* context,
                 grpc::ServerUnaryReactor* reactor, absl::Time start,
                 const absl::Status& status) {
  const grpc::Status grpc_status = ToGrpcStatus(status);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  metrics.RpcHandled(method, grpc_status.error_code(), seconds);
  if (grpc_status.ok()) {
    metrics.MessageSent(method);
  } else {
    metrics.Error(ReasonOf(status));
    LogEvent("rpc_error", {{"method", method == RpcMethod::kQuantizeLayer
                                          ? "QuantizeLayer"
                                          : "GetCapabilities"},
                           {"peer", context->peer()},
                           {"seconds", seconds},
                           {"code", GrpcCodeName(grpc_status.error_code())},
                           {"reason", ReasonLabel(ReasonOf(status))},
                           {"message", status.message()}});
  }
  reactor->Finish(grpc_status);
}

}  // namespace

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
QuantizationService::QuantizeModel(grpc::CallbackServerContext* context) {
  return new ModelStream(context, runtime_);
}

grpc::ServerUnaryReactor* QuantizationService::QuantizeLayer(
    grpc::CallbackServerContext* context,
    const v1::QuantizeLayerRequest* request,
    v1::QuantizeLayerResponse* response) {
  const absl::Time start = absl::Now();
  ServiceMetrics& metrics = runtime_.metrics;
  metrics.RpcStarted(RpcMethod::kQuantizeLayer);
  metrics.MessageReceived(RpcMethod::kQuantizeLayer);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status admitted = runtime_.calls.AdmitUnary(); !admitted.ok()) {
    FinishUnary(metrics, RpcMethod::kQuantizeLayer, context, reactor, start,
                admitted);
    return reactor;
  }
  const LayerLimits limits{runtime_.config.max_unary_layer_bytes,
                           runtime_.config.max_layer_channels,
                           "--max_unary_layer_bytes; stream bigger layers "
                           "with QuantizeModel"};
  absl::StatusOr<LayerPlan> plan =
      PlanLayer(0, request->name(), request->shape(), request->dtype(),
                ServerDefaultOptions(), request->options(), limits);
  if (plan.ok() &&
      static_cast<int64_t>(request->data().size()) != plan->input_bytes) {
    plan = ServiceError(ErrorReason::kByteCount,
                        absl::StrCat(LayerLabel(0, request->name()), ": got ",
                                     request->data().size(),
                                     " bytes; the shape and dtype "
                                     "need ",
                                     plan->input_bytes));
  }
  if (!plan.ok()) {
    runtime_.calls.UnaryDone();
    FinishUnary(metrics, RpcMethod::kQuantizeLayer, context, reactor, start,
                plan.status());
    return reactor;
  }
  metrics.TensorBytesReceived(plan->input_bytes);
  LayerInput input;
  input.bytes = {reinterpret_cast<const uint8_t*>(request->data().data()),
                 request->data().size()};
  StartLayerJob(
      runtime_.pool, metrics, *std::move(plan), std::move(input),
      [context] { return context->IsCancelled(); },
      [this, context, reactor, response, start](LayerJobDone done) mutable {
        absl::Status status = done.layer.status();
        if (done.layer.ok()) {
          const absl::Span<const uint8_t> values = done.layer->value_bytes();
          response->set_values(values.data(), values.size());
          *response->mutable_result() = std::move(done.layer->result);
          runtime_.metrics.TensorBytesSent(values.size());
        }
        runtime_.calls.UnaryDone();
        FinishUnary(runtime_.metrics, RpcMethod::kQuantizeLayer, context,
                    reactor, start, status);
      });
  return reactor;
}

grpc::ServerUnaryReactor* QuantizationService::GetCapabilities(
    grpc::CallbackServerContext* context,
    const v1::GetCapabilitiesRequest* /*request*/,
    v1::GetCapabilitiesResponse* response) {
  const absl::Time start = absl::Now();
  runtime_.metrics.RpcStarted(RpcMethod::kGetCapabilities);
  runtime_.metrics.MessageReceived(RpcMethod::kGetCapabilities);
  const ServerConfig& config = runtime_.config;
  response->set_server_version(std::string(kVersion));
  response->set_min_bits(kMinBits);
  response->set_max_bits(kMaxBits);
  response->set_max_packed_bits(kMaxPackedBits);
  for (v1::Mode mode : {v1::MODE_SQUANT, v1::MODE_SQUANT_K, v1::MODE_SQUANT_C,
                        v1::MODE_SQUANT_E}) {
    response->add_modes(mode);
  }
  response->add_grids(v1::GRID_ASYMMETRIC);
  response->add_grids(v1::GRID_SYMMETRIC);
  for (v1::Dtype dtype : {v1::DTYPE_F32, v1::DTYPE_F16, v1::DTYPE_BF16}) {
    response->add_dtypes(dtype);
  }
  response->set_max_layer_bytes(config.max_layer_bytes);
  response->set_max_layer_channels(config.max_layer_channels);
  response->set_max_unary_layer_bytes(config.max_unary_layer_bytes);
  response->set_chunk_bytes(config.chunk_bytes);
  response->set_max_message_bytes(MaxReceiveMessageBytes(config));
  response->set_workers(runtime_.pool.size());
  response->set_max_concurrent_streams(config.max_concurrent_streams);
  response->set_stream_buffer_bytes(config.stream_buffer_bytes);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishUnary(runtime_.metrics, RpcMethod::kGetCapabilities, context, reactor,
              start, absl::OkStatus());
  return reactor;
}

}  // namespace squant::server
