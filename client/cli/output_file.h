// The quantized model being written: its layout is fixed from the input and
// the selection before any result exists, so results can be written as
// they arrive, in any order, and the file's bytes do not depend on that
// order.

#ifndef SQUANT_CLIENT_CLI_OUTPUT_FILE_H_
#define SQUANT_CLIENT_CLI_OUTPUT_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/cli/selection.h"
#include "safetensors/safetensors.h"

namespace squant::cli {

// Thread-safe for writes to different tasks (positional writes).
class QuantizedModelWriter {
 public:
  // Lays out, in the input's tensor order, NAME.qweight, NAME.scale and
  // NAME.zero_point for each task's tensor and every other tensor under its
  // own name. Errors carry ExitCode::kOutput (or kInput for a name clash).
  static absl::StatusOr<QuantizedModelWriter> Create(
      const std::string& path, const safetensors::MappedFile& input,
      absl::Span<const LayerTask> tasks,
      const std::map<std::string, std::string>& metadata);

  // Copies the tensors that are not quantized, unchanged.
  absl::Status CopyUnselected();
  absl::Status WriteScaleAndZeroPoint(size_t task,
                                      absl::Span<const float> scale,
                                      absl::Span<const int32_t> zero_point);
  // `bytes` of NAME.qweight starting at byte `offset`.
  absl::Status WriteValues(size_t task, uint64_t offset,
                           absl::Span<const uint8_t> bytes);
  absl::Status Close();

 private:
  struct Copy {
    const safetensors::TensorInfo* source;
    size_t index;  // in the writer's specs
  };

  QuantizedModelWriter(safetensors::Writer writer,
                       const safetensors::MappedFile& input)
      : writer_(std::move(writer)), input_(&input) {}

  safetensors::Writer writer_;
  const safetensors::MappedFile* input_;
  std::vector<size_t> qweight_index_;  // per task; scale and zero_point follow
  std::vector<Copy> copies_;
};

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_OUTPUT_FILE_H_
