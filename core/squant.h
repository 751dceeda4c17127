// SQuant: data-free, per-output-channel weight quantization (Guo et al.,
// ICLR 2022), computed bit for bit as the authors' reference code does.
// The algorithm and its float32 numerics are specified in
// shared/docs/SQUANT.md; this header is the library's whole public surface.
//
// Conventions
// - A weight tensor has shape [M, N, k1, k2, ...] in C order: M output
//   channels, N input channels, K = k1*k2*... elements per kernel. [M, N] is a
//   linear layer (K = 1).
// - Dequantization: w ~= scale[m] * (q - zero_point[m]) for every element of
//   output channel m.
// - Quantized values are int8 in [t_min, t_max]: asymmetric grid
//   [-2^(b-1), 2^(b-1)-1]; symmetric grid [-(2^(b-1)-1), 2^(b-1)-1].

#ifndef SQUANT_CORE_SQUANT_H_
#define SQUANT_CORE_SQUANT_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace squant {

// The paper's ablation stages (Tables 4-5): E = element, K = kernel,
// C = channel.
enum class Mode {
  kSquant,   // E + K + C (K skipped when K == 1): the paper's SQuant.
  kSquantK,  // E + K.
  kSquantC,  // E + C, every element a channel candidate.
  kSquantE,  // E only: round to nearest on the same grid.
};

enum class Grid {
  // Per-channel min/max affine grid, the paper's default:
  //   s = (2^b-1) / max(hi-lo, 1e-8), z = rint(s*lo) + 2^(b-1),
  //   x = s*w - z; scale = 1/s, zero_point = -z.
  kAsymmetric,
  // Per-channel symmetric grid as TensorRT and ONNX Runtime int8 kernels
  // expect: scale = max|w| / (2^(b-1)-1), x = w / scale, zero_point = 0.
  // A channel that is all zeros gets scale 1.
  kSymmetric,
};

// Input element types; F16 and BF16 are converted exactly to float32 first.
enum class DType { kF32, kF16, kBF16 };

inline constexpr int kMinBits = 2;
inline constexpr int kMaxBits = 8;
inline constexpr int kMaxPackedBits = 4;

// "squant", "squant-k", "squant-c", "squant-e".
absl::string_view ModeName(Mode mode);
absl::StatusOr<Mode> ParseMode(absl::string_view name);
// "asymmetric", "symmetric".
absl::string_view GridName(Grid grid);
absl::StatusOr<Grid> ParseGrid(absl::string_view name);
// safetensors spellings: "F32", "F16", "BF16".
absl::string_view DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(absl::string_view name);
int DTypeSize(DType dtype);

struct QuantOptions {
  int bits = 4;  // kMinBits..kMaxBits
  Mode mode = Mode::kSquant;
  Grid grid = Grid::kAsymmetric;
};

// A weight tensor as it arrives from a file or the network: raw
// little-endian bytes in C order. Borrowed, never owned.
struct WeightTensor {
  DType dtype = DType::kF32;
  absl::Span<const int64_t> shape;
  absl::Span<const uint8_t> data;
};

struct LayerGeometry {
  int64_t channels = 0;             // M
  int64_t kernels_per_channel = 0;  // N
  int64_t kernel_size = 0;          // K
  int64_t channel_size() const { return kernels_per_channel * kernel_size; }
  int64_t elements() const { return channels * channel_size(); }
};

// Checks everything about a layer that can be checked without reading its
// values: bits in range, rank >= 2, no empty or negative dimension, an
// element count that does not overflow, and a byte count equal to
// elements * DTypeSize. Messages name the problem (the caller adds the
// layer's name).
absl::StatusOr<LayerGeometry> ValidateLayer(const WeightTensor& weights,
                                            const QuantOptions& options);

// What SQuant did to one output channel; reduced into LayerStats in channel
// order so that the result does not depend on how channels were split.
struct ChannelStats {
  int64_t kernel_flips = 0;   // elements whose value left rint(x) at stage K
  int64_t channel_flips = 0;  // elements whose value changed at stage C
  int64_t clamped = 0;        // elements clamped into [t_min, t_max]
  bool degenerate = false;    // encoded by the constant-channel rule
  // Largest |sum of (q - x)| over a kernel, and over the channel, for
  // round-to-nearest ("before") and for the final values ("after").
  double max_kernel_error_sum_before = 0;
  double max_kernel_error_sum_after = 0;
  double channel_error_sum_before = 0;  // |sum|, the channel's own
  double channel_error_sum_after = 0;
  // Sums over the channel of (scale * (q - x))^2: the squared error of the
  // dequantized weights against the input, for the final values and for
  // round to nearest on the same grid.
  double squared_error_squant = 0;
  double squared_error_rtn = 0;
};

struct LayerStats {
  int64_t elements = 0;
  int64_t kernel_flips = 0;
  int64_t channel_flips = 0;
  int64_t clamped_elements = 0;
  int64_t degenerate_channels = 0;
  double max_kernel_error_sum_before = 0;
  double max_kernel_error_sum_after = 0;
  double max_channel_error_sum_before = 0;
  double max_channel_error_sum_after = 0;
  double mse_squant = 0;  // mean of (dequantized - input)^2
  double mse_rtn = 0;     // the same for round to nearest
};

// Reduces per-channel statistics (in channel order) into the layer's.
LayerStats SummarizeStats(absl::Span<const ChannelStats> channels,
                          const LayerGeometry& geometry);

struct QuantizedLayer {
  LayerGeometry geometry;
  QuantOptions options;
  std::vector<int8_t> values;               // M*N*K, C order, in [t_min, t_max]
  std::vector<float> scale;                 // [M]
  std::vector<int32_t> zero_point;          // [M]
  std::vector<ChannelStats> channel_stats;  // [M]
  LayerStats stats;  // filled by Quantize / SummarizeStats
};

// Sizes `values`, `scale`, `zero_point` and `channel_stats` for a layer.
QuantizedLayer AllocateOutput(const LayerGeometry& geometry,
                              const QuantOptions& options);

// Quantizes output channels [first_channel, last_channel) of `weights` into
// `out` (allocated by AllocateOutput). Calls on disjoint channel ranges may
// run concurrently on the same `out`; the bytes written do not depend on how
// the channels are split. Fails with INVALID_ARGUMENT naming the first
// NaN/Inf element of the range (flat index and channel). Picks the widest
// SIMD instruction set the CPU supports at run time; every choice gives the
// same bytes.
absl::Status QuantizeChannels(const WeightTensor& weights,
                              const LayerGeometry& geometry,
                              int64_t first_channel, int64_t last_channel,
                              QuantizedLayer& out);

// The obviously-correct scalar implementation of QuantizeChannels, kept for
// tests to check the fast one against. Same contract.
absl::Status QuantizeChannelsReference(const WeightTensor& weights,
                                       const LayerGeometry& geometry,
                                       int64_t first_channel,
                                       int64_t last_channel,
                                       QuantizedLayer& out);

// Validates, quantizes with `num_threads` threads (blocks of output
// channels) and summarizes: the convenience entry point.
absl::StatusOr<QuantizedLayer> Quantize(const WeightTensor& weights,
                                        const QuantOptions& options,
                                        int num_threads = 1);

// Packs b <= 4 bit values two per byte, row by row: each output channel's
// N*K values are packed low nibble first (element 2i in bits 0-3, element
// 2i+1 in bits 4-7, each as a 4-bit two's complement), and a row of odd
// length ends with a zero high nibble. The packed tensor is
// [M, ceil(N*K/2)] bytes; for even N*K this is the flat ONNX int4 layout.
std::vector<uint8_t> PackInt4(absl::Span<const int8_t> values,
                              const LayerGeometry& geometry);
std::vector<int8_t> UnpackInt4(absl::Span<const uint8_t> packed,
                               const LayerGeometry& geometry);

}  // namespace squant

#endif  // SQUANT_CORE_SQUANT_H_
