// squant.v1.QuantizationService on gRPC's callback API. Thin: streams go to
// ModelStream, unary layers to the worker pool; no work on gRPC's threads.

#ifndef SQUANT_SERVER_QUANTIZATION_SERVICE_H_
#define SQUANT_SERVER_QUANTIZATION_SERVICE_H_

#include "grpcpp/grpcpp.h"
#include "server/service_runtime.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::server {

class QuantizationService final
    : public v1::QuantizationService::CallbackService {
 public:
  explicit QuantizationService(ServiceRuntime& runtime) : runtime_(runtime) {}

  grpc::ServerBidiReactor<v1::QuantizeModelRequest, v1::QuantizeModelResponse>*
  QuantizeModel(grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* QuantizeLayer(
      grpc::CallbackServerContext* context,
      const v1::QuantizeLayerRequest* request,
      v1::QuantizeLayerResponse* response) override;

  grpc::ServerUnaryReactor* GetCapabilities(
      grpc::CallbackServerContext* context,
      const v1::GetCapabilitiesRequest* request,
      v1::GetCapabilitiesResponse* response) override;

 private:
  ServiceRuntime& runtime_;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_QUANTIZATION_SERVICE_H_
