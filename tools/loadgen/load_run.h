// Drives QuantizeModel with N concurrent streams (one connection each) for
// a duration or a number of models, and collects what happened: requests,
// layers, bytes, errors by status code, per-model latencies.

#ifndef SQUANT_TOOLS_LOADGEN_LOAD_RUN_H_
#define SQUANT_TOOLS_LOADGEN_LOAD_RUN_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "squant/v1/quantization.pb.h"
#include "tools/loadgen/model_mix.h"

namespace squant::loadgen {

struct LoadConfig {
  std::string server;  // gRPC target, e.g. 127.0.0.1:50051
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  int streams = 4;
  absl::Duration duration = absl::Seconds(10);
  int64_t max_requests = 0;  // 0: no limit; else stop after this many
  int64_t chunk_bytes = 4 << 20;
  absl::Duration request_timeout = absl::Seconds(120);
  v1::ModelOptions options;
  uint32_t seed = 1;
};

struct ModelLatencies {
  std::string model;
  std::vector<double> seconds;  // of requests that ended OK
};

struct LoadReport {
  double seconds = 0;  // wall time of the run
  int64_t requests_ok = 0;
  int64_t requests_failed = 0;
  int64_t layers = 0;          // layers returned complete
  int64_t bytes_sent = 0;      // tensor bytes sent
  int64_t bytes_received = 0;  // quantized value bytes received
  // Failed requests by gRPC code name; INCOMPLETE_RESULT is a stream that
  // ended OK without every layer's values.
  std::map<std::string, int64_t> errors;
  std::vector<ModelLatencies> latencies;  // one per model of the mix
};

LoadReport RunLoad(const LoadConfig& config, const ModelMix& mix);

// The nearest-rank percentile (0 < p <= 100) of `values`, 0 if empty.
double Percentile(std::vector<double> values, double p);

// "OK", "INVALID_ARGUMENT", ...
std::string CodeName(grpc::StatusCode code);

}  // namespace squant::loadgen

#endif  // SQUANT_TOOLS_LOADGEN_LOAD_RUN_H_
