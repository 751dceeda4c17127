// A model too big to hold (Llama-2-7B: 6.7 G weights, 13.5 GB of F16)
// through one QuantizeModel call: every chunk is cut from a small pool of
// random F16 values as it is sent, results are checksummed and dropped
// (a few layers are checked against the core in process), and the window
// bounds the layers in flight.

#ifndef SQUANT_TOOLS_MODELBENCH_LARGE_MODEL_H_
#define SQUANT_TOOLS_MODELBENCH_LARGE_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/model_shapes.h"
#include "grpcpp/channel.h"
#include "squant/v1/quantization.grpc.pb.h"
#include "tools/modelbench/bench_config.h"

namespace squant::modelbench {

struct LargeModelConfig {
  BenchConfig bench;  // its stream's dtype must be F16
  int64_t pool_bytes = int64_t{64} << 20;
  std::vector<std::string> verify_layers;  // names
};

// Prints each repetition's time, then best and median, GB/s and weights/s.
absl::Status RunLargeModel(grpc::Channel& channel,
                           const bench::ModelShapes& model,
                           const LargeModelConfig& config);

}  // namespace squant::modelbench

#endif  // SQUANT_TOOLS_MODELBENCH_LARGE_MODEL_H_
