// The quantized safetensors schema squant-cli writes and reads back. Stable:
// documented in client/README.md.
//
// For a quantized tensor NAME of shape [M, N, k1, ...]:
//   NAME.qweight     I8 [M, N, k1, ...], or U8 [M, ceil(N*K/2)] when packed
//                    (each row low nibble first, 4-bit two's complement, an
//                    odd row ending in a zero nibble: squant::PackInt4)
//   NAME.scale       F32 [M]
//   NAME.zero_point  I32 [M]
// with NAME ~= scale[m] * (qweight - zero_point[m]) in output channel m.
// __metadata__ holds, as strings: quantization_method = "squant",
// squant.tool_version, squant.bits / mode / grid / pack (the defaults),
// squant.bits_overrides (JSON [{"pattern", "bits"}]) and squant.layers
// (JSON {NAME: {"shape", "dtype", "bits", "mode", "grid", "packed"}}, the
// options in effect per tensor and its original shape and dtype).

#ifndef SQUANT_CLIENT_CLI_QUANTIZED_FORMAT_H_
#define SQUANT_CLIENT_CLI_QUANTIZED_FORMAT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/cli/command_line.h"
#include "client/cli/selection.h"
#include "core/squant.h"

namespace squant::cli {

inline constexpr absl::string_view kQWeightSuffix = ".qweight";
inline constexpr absl::string_view kScaleSuffix = ".scale";
inline constexpr absl::string_view kZeroPointSuffix = ".zero_point";
inline constexpr char kLayersKey[] = "squant.layers";

// How one tensor was quantized, as recorded in squant.layers.
struct QuantizedTensorRecord {
  std::vector<int64_t> shape;  // the original shape
  std::string dtype;           // the original dtype
  QuantOptions options;
  bool packed = false;
};

// The __metadata__ of a file holding `tasks`.
std::map<std::string, std::string> QuantizedMetadata(
    const SelectionRules& rules, absl::Span<const LayerTask> tasks);

// The squant.layers records of a file's metadata (empty for a float file).
// Errors name the malformed entry.
absl::StatusOr<std::map<std::string, QuantizedTensorRecord>> ReadRecords(
    const std::map<std::string, std::string>& metadata);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_QUANTIZED_FORMAT_H_
