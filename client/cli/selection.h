// Which tensors of a model get quantized, and with which options.

#ifndef SQUANT_CLIENT_CLI_SELECTION_H_
#define SQUANT_CLIENT_CLI_SELECTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/cli/command_line.h"
#include "core/squant.h"
#include "safetensors/safetensors.h"

namespace squant::cli {

struct SelectionRules {
  std::vector<std::string> include;  // empty: every candidate
  std::vector<std::string> exclude;
  std::vector<BitsOverride> bits_overrides;  // first match wins
  QuantOptions defaults;
  bool pack = false;  // applied to tensors of <= kMaxPackedBits bits
};

// One tensor to quantize: where its bytes are and how to quantize it.
struct LayerTask {
  const safetensors::TensorInfo* tensor = nullptr;  // in the input file
  DType dtype = DType::kF32;
  absl::Span<const uint8_t> data;  // inside the input's mapping
  QuantOptions options;
  bool pack = false;
  LayerGeometry geometry;
  WeightTensor weights() const { return {dtype, tensor->shape, data}; }
  // Bytes of NAME.qweight.
  uint64_t values_bytes() const;
};

// Selects, in the file's tensor order, every floating tensor of rank >= 2
// that matches an --include (if any) and no --exclude. A selected tensor
// whose dtype the quantizer does not take (F64, F8) or whose shape it
// rejects is an error naming the tensor; a pattern that is not a valid
// regex or an --include that selects nothing is an error too.
absl::StatusOr<std::vector<LayerTask>> SelectLayers(
    const safetensors::MappedFile& input, const SelectionRules& rules);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_SELECTION_H_
