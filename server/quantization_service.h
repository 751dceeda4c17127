// squant.v1.QuantizationService on gRPC's callback API. Thin: streams go to
// ModelStream, unary layers to the worker pool; no work on gRPC's threads.
// QuantizeModel is registered raw (messages as bytes): ModelStream parses
// and serializes them itself to avoid copying tensor bytes.

#ifndef SQUANT_SERVER_QUANTIZATION_SERVICE_H_
#define SQUANT_SERVER_QUANTIZATION_SERVICE_H_

#include "grpcpp/grpcpp.h"
#include "server/service_runtime.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::server {

class QuantizationService final
    : public v1::QuantizationService::WithCallbackMethod_GetCapabilities<
          v1::QuantizationService::WithCallbackMethod_QuantizeLayer<
              v1::QuantizationService::WithRawCallbackMethod_QuantizeModel<
                  v1::QuantizationService::Service>>> {
 public:
  explicit QuantizationService(ServiceRuntime& runtime) : runtime_(runtime) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* QuantizeModel(
      grpc::CallbackServerContext* context) override;

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
