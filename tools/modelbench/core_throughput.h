// The core library alone on one thread, for sizing a deployment: weights
// per second at the configured bits for F32 and F16 input, on ResNet-50's
// layers and on one Llama-2-7B decoder block.

#ifndef SQUANT_TOOLS_MODELBENCH_CORE_THROUGHPUT_H_
#define SQUANT_TOOLS_MODELBENCH_CORE_THROUGHPUT_H_

#include "absl/status/status.h"
#include "tools/modelbench/bench_config.h"

namespace squant::modelbench {

absl::Status RunCoreThroughput(const BenchConfig& config);

}  // namespace squant::modelbench

#endif  // SQUANT_TOOLS_MODELBENCH_CORE_THROUGHPUT_H_
