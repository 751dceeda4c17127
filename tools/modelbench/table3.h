// The SQuant paper's Table 3 through a running server: for each network,
// random F32 weights with its exact layer shapes, streamed whole through
// one QuantizeModel call at 4 bits and checked byte for byte against the
// core library in process; end-to-end and core-alone times beside the
// paper's A100 time.

#ifndef SQUANT_TOOLS_MODELBENCH_TABLE3_H_
#define SQUANT_TOOLS_MODELBENCH_TABLE3_H_

#include <vector>

#include "absl/status/status.h"
#include "bench/model_shapes.h"
#include "grpcpp/channel.h"
#include "squant/v1/quantization.grpc.pb.h"
#include "tools/modelbench/bench_config.h"

namespace squant::modelbench {

// Prints one row per model; fails on the first stream error or mismatch.
absl::Status RunTable3(grpc::Channel& channel,
                       const std::vector<bench::ModelShapes>& models,
                       const BenchConfig& config);

}  // namespace squant::modelbench

#endif  // SQUANT_TOOLS_MODELBENCH_TABLE3_H_
