// Layer-level plumbing around the per-channel algorithm: validation, output
// allocation, threading and the statistics reduction.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/squant.h"

namespace squant {

absl::StatusOr<LayerGeometry> ValidateLayer(const WeightTensor& weights,
                                            const QuantOptions& options) {
  if (options.bits < kMinBits || options.bits > kMaxBits) {
    return absl::InvalidArgumentError(absl::StrCat("bits ", options.bits,
                                                   " out of range [", kMinBits,
                                                   ", ", kMaxBits, "]"));
  }
  const auto& shape = weights.shape;
  if (shape.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape [", absl::StrJoin(shape, ", "), "] has rank ",
                     shape.size(), "; need [M, N, k1, ...] with rank >= 2"));
  }
  // Products stay below 2^62 so that byte counts fit int64 too.
  constexpr int64_t kMaxElements = int64_t{1} << 62;
  int64_t elements = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape [", absl::StrJoin(shape, ", "), "] has ",
          shape[d] == 0 ? "an empty" : "a negative", " dimension ", d));
    }
    if (elements > kMaxElements / shape[d]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape [", absl::StrJoin(shape, ", "), "] has too many elements"));
    }
    elements *= shape[d];
  }
  const int64_t expected_bytes = elements * DTypeSize(weights.dtype);
  if (static_cast<int64_t>(weights.data.size()) != expected_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("got ", weights.data.size(), " bytes; shape [",
                     absl::StrJoin(shape, ", "), "] of ",
                     DTypeName(weights.dtype), " needs ", expected_bytes));
  }
  LayerGeometry geometry;
  geometry.channels = shape[0];
  geometry.kernels_per_channel = shape[1];
  geometry.kernel_size = elements / (shape[0] * shape[1]);
  return geometry;
}

QuantizedLayer AllocateOutput(const LayerGeometry& geometry,
                              const QuantOptions& options) {
  QuantizedLayer out;
  out.geometry = geometry;
  out.options = options;
  out.values.resize(geometry.elements());
  out.scale.resize(geometry.channels);
  out.zero_point.resize(geometry.channels);
  out.channel_stats.resize(geometry.channels);
  return out;
}

LayerStats SummarizeStats(absl::Span<const ChannelStats> channels,
                          const LayerGeometry& geometry) {
  LayerStats stats;
  stats.elements = geometry.elements();
  double squared_error_squant = 0, squared_error_rtn = 0;
  for (const ChannelStats& c : channels) {
    stats.kernel_flips += c.kernel_flips;
    stats.channel_flips += c.channel_flips;
    stats.clamped_elements += c.clamped;
    stats.degenerate_channels += c.degenerate;
    stats.max_kernel_error_sum_before = std::max(
        stats.max_kernel_error_sum_before, c.max_kernel_error_sum_before);
    stats.max_kernel_error_sum_after = std::max(
        stats.max_kernel_error_sum_after, c.max_kernel_error_sum_after);
    stats.max_channel_error_sum_before = std::max(
        stats.max_channel_error_sum_before, c.channel_error_sum_before);
    stats.max_channel_error_sum_after =
        std::max(stats.max_channel_error_sum_after, c.channel_error_sum_after);
    squared_error_squant += c.squared_error_squant;
    squared_error_rtn += c.squared_error_rtn;
  }
  if (stats.elements > 0) {
    stats.mse_squant = squared_error_squant / stats.elements;
    stats.mse_rtn = squared_error_rtn / stats.elements;
  }
  return stats;
}

absl::StatusOr<QuantizedLayer> Quantize(const WeightTensor& weights,
                                        const QuantOptions& options,
                                        int num_threads) {
  absl::StatusOr<LayerGeometry> geometry = ValidateLayer(weights, options);
  if (!geometry.ok()) return geometry.status();
  QuantizedLayer out = AllocateOutput(*geometry, options);
  const int64_t channels = geometry->channels;
  const int64_t blocks =
      std::clamp<int64_t>(num_threads, 1, std::max<int64_t>(channels, 1));
  std::vector<absl::Status> statuses(blocks);
  auto run_block = [&](int64_t block) {
    const int64_t first = channels * block / blocks;
    const int64_t last = channels * (block + 1) / blocks;
    statuses[block] = QuantizeChannels(weights, *geometry, first, last, out);
  };
  std::vector<std::thread> threads;
  for (int64_t block = 1; block < blocks; ++block) {
    threads.emplace_back(run_block, block);
  }
  run_block(0);
  for (std::thread& thread : threads) thread.join();
  // The lowest block's error names the first bad element of the tensor.
  for (const absl::Status& status : statuses) {
    if (!status.ok()) return status;
  }
  out.stats = SummarizeStats(out.channel_stats, *geometry);
  return out;
}

std::vector<uint8_t> PackInt4(absl::Span<const int8_t> values,
                              const LayerGeometry& geometry) {
  const int64_t row = geometry.channel_size();
  const int64_t packed_row = (row + 1) / 2;
  std::vector<uint8_t> packed(geometry.channels * packed_row, 0);
  for (int64_t m = 0; m < geometry.channels; ++m) {
    const int8_t* in = values.data() + m * row;
    uint8_t* out = packed.data() + m * packed_row;
    // Whole pairs first: a loop the compiler vectorizes (one byte at a time
    // with read-modify-write ran at a tenth of the speed).
    for (int64_t pair = 0; pair < row / 2; ++pair) {
      const uint8_t low = static_cast<uint8_t>(in[2 * pair]) & 0x0f;
      const uint8_t high = static_cast<uint8_t>(in[2 * pair + 1]) << 4;
      out[pair] = static_cast<uint8_t>(low | high);
    }
    if (row % 2 != 0) out[row / 2] = static_cast<uint8_t>(in[row - 1]) & 0x0f;
  }
  return packed;
}

std::vector<int8_t> UnpackInt4(absl::Span<const uint8_t> packed,
                               const LayerGeometry& geometry) {
  const int64_t row = geometry.channel_size();
  const int64_t packed_row = (row + 1) / 2;
  std::vector<int8_t> values(geometry.elements());
  for (int64_t m = 0; m < geometry.channels; ++m) {
    const uint8_t* in = packed.data() + m * packed_row;
    int8_t* out = values.data() + m * row;
    for (int64_t i = 0; i < row; ++i) {
      const uint8_t nibble =
          (i % 2 == 0) ? (in[i / 2] & 0x0f) : (in[i / 2] >> 4);
      // Sign-extend the 4-bit two's complement value.
      out[i] = static_cast<int8_t>(static_cast<int8_t>(nibble << 4) >> 4);
    }
  }
  return values;
}

}  // namespace squant
