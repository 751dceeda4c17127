// Writes a large model's random F16 weights (cut from an F16Pool, chunk by
// chunk, as squant-modelbench streams them) as a real safetensors file,
// for measuring squant-cli's file path on the same model.

#ifndef SQUANT_TOOLS_MODELBENCH_MODEL_FILE_H_
#define SQUANT_TOOLS_MODELBENCH_MODEL_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "bench/model_shapes.h"
#include "tools/modelbench/weight_source.h"

namespace squant::modelbench {

absl::Status WriteModelFile(const std::string& path,
                            const bench::ModelShapes& model,
                            const F16Pool& pool, uint64_t chunk_bytes);

}  // namespace squant::modelbench

#endif  // SQUANT_TOOLS_MODELBENCH_MODEL_FILE_H_
