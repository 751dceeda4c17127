#include "tools/modelbench/model_file.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "safetensors/safetensors.h"

namespace squant::modelbench {

absl::Status WriteModelFile(const std::string& path,
                            const bench::ModelShapes& model,
                            const F16Pool& pool, uint64_t chunk_bytes) {
  std::vector<safetensors::TensorSpec> specs;
  for (const bench::LayerShape& layer : model.layers) {
    specs.push_back({layer.name, "F16", layer.shape});
  }
  absl::StatusOr<safetensors::Writer> writer = safetensors::Writer::Create(
      path, std::move(specs), {{"source", "squant-modelbench " + model.name}});
  if (!writer.ok()) return writer.status();
  for (size_t index = 0; index < model.layers.size(); ++index) {
    const uint64_t bytes = model.layers[index].elements() * 2;
    for (uint64_t offset = 0; offset < bytes; offset += chunk_bytes) {
      const uint64_t size = std::min(chunk_bytes, bytes - offset);
      if (absl::Status status =
              writer->Write(index, offset, pool.Chunk(index, offset, size));
          !status.ok()) {
        return status;
      }
    }
  }
  return writer->Close();
}

}  // namespace squant::modelbench
