// squant::QuantizeChannels: the SIMD implementation, compiled for every
// Highway x86 target and chosen at run time (HWY_DYNAMIC_DISPATCH). All
// targets compute the same float32 operations in the same order, so they
// give the same bytes as each other and as QuantizeChannelsReference.
//
// Per output channel: load and range (row_load); for kernels up to 64
// elements, the grid placement, the kernel stage with one kernel per lane
// and the int8 values in one pass (kernel_stage); otherwise the placement
// (row_load) and the kernel stage one kernel at a time (large_kernel); then
// the channel stage as a thresholded top-n selection (channel_stage), whose
// few flips update q, the counts and the error sums element by element
// (moves.h).

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/fast/quantize_fast.cc"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "core/channel_grid.h"
#include "core/fast/channel_stage-inl.h"
#include "core/fast/kernel_stage-inl.h"
#include "core/fast/large_kernel.h"
#include "core/fast/moves.h"
#include "core/fast/row_load-inl.h"
#include "core/fast/scratch.h"
#include "core/input_row.h"
#include "core/squant.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace squant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
#if HWY_TARGET == HWY_SCALAR

// Only for x86-64 CPUs without SSSE3 (Highway's EMU128 is disabled on this
// compiler): the plain loops are the reference's.
absl::Status QuantizeChannelsSimd(const WeightTensor& weights,
                                  const LayerGeometry& geometry,
                                  int64_t first_channel, int64_t last_channel,
                                  QuantizedLayer& out) {
  return QuantizeChannelsReference(weights, geometry, first_channel,
                                   last_channel, out);
}

#else

// See ChannelScratch::lane_major_index.
inline void SetLaneMajorIndex(ChannelScratch& s) {
  const size_t k = s.kernel_size;
  const size_t lanes = hn::Lanes(hn::ScalableTag<float>());
  if (k > kMaxLaneKernel) return;
  s.lane_major_index.resize(k * lanes);
  for (size_t p = 0; p < k * lanes; ++p) {
    s.lane_major_index[p] = static_cast<int32_t>((p % k) * lanes + p / k);
  }
}

// Recomputes the dirty kernels' sums element by element, as the reference
// computes them.
inline void RecomputeDirtyKernels(const ChannelGrid& grid, ChannelScratch& s) {
  const size_t k = s.kernel_size;
  // Dirty kernels are few: skip eight flags at a time (padded_kernels is a
  // whole number of vectors).
  for (size_t kernel = 0; kernel < s.kernels; ++kernel) {
    if (kernel % 8 == 0) {
      uint64_t flags;
      std::memcpy(&flags, s.dirty.get() + kernel, sizeof(flags));
      if (flags == 0) {
        kernel += 7;
        continue;
      }
    }
    if (!s.dirty[kernel]) continue;
    double before = 0, after = 0;
    for (size_t i = kernel * k; i < (kernel + 1) * k; ++i) {
      const float x = s.X(i);
      const float rtn = std::clamp(std::nearbyint(x), grid.t_min, grid.t_max);
      before += static_cast<double>(rtn) - x;
      after += static_cast<double>(s.q[i]) - x;
    }
    s.kernel_before[kernel] = before;
    s.kernel_after[kernel] = after;
  }
}

// Statistics of a channel of K > 1 from the per-kernel sums. After the
// lane-wise kernel stage with no tiny error, the sums are exact
// (KernelStageSums::tiny) and already hold the integer changes of the
// channel stage's moves and of clamping (ChannelStage, ChannelStatistics);
// otherwise the dirty kernels are recomputed.
inline void KernelStats(const ChannelGrid& grid, bool exact, ChannelScratch& s,
                        ChannelStats& stats) {
  if (!exact) RecomputeDirtyKernels(grid, s);
  // The channel's sums fold the kernels' (error_sum.h), as the reference's.
  stats.channel_error_sum_before =
      std::fabs(FoldKernelSumsSimd(s.kernel_before.get(), s.kernels));
  stats.channel_error_sum_after =
      std::fabs(FoldKernelSumsSimd(s.kernel_after.get(), s.kernels));
  // Padding kernels hold 0.
  const hn::ScalableTag<double> dd;
  auto largest_before = hn::Zero(dd);
  auto largest_after = hn::Zero(dd);
  for (size_t kernel = 0; kernel < s.padded_kernels; kernel += hn::Lanes(dd)) {
    largest_before = hn::Max(
        largest_before, hn::Abs(hn::Load(dd, s.kernel_before.get() + kernel)));
    largest_after = hn::Max(
        largest_after, hn::Abs(hn::Load(dd, s.kernel_after.get() + kernel)));
  }
  stats.max_kernel_error_sum_before =
      hn::GetLane(hn::MaxOfLanes(dd, largest_before));
  stats.max_kernel_error_sum_after =
      hn::GetLane(hn::MaxOfLanes(dd, largest_after));
}

// The channel's statistics from the position pass's sums, the moves and
// the edge elements (the only ones clamping can change). Writes the edges'
// q: the passes before leave them unclamped.
inline void ChannelStatistics(const PositionSums& sums, const MoveTally& tally,
                              const ChannelGrid& grid, ChannelScratch& s,
                              ChannelStats& stats) {
  stats = ChannelStats{};
  stats.kernel_flips = tally.kernel_flips;
  stats.channel_flips = tally.channel_flips;
  double squared_rtn = sums.squared_error;
  double squared_final = sums.squared_error + tally.squared_delta;
  double rtn_shift = 0, final_shift = 0;
  double edge_rtn = 0, edge_final = 0;  // largest |error| at the edges
  for (const int32_t i : s.edges) {
    const float x = s.X(i);
    const float r0 = std::nearbyint(x);
    const float r = r0 + s.Move(i, x);
    const float rtn = std::clamp(r0, grid.t_min, grid.t_max);
    const float final_value = std::clamp(r, grid.t_min, grid.t_max);
    s.q[i] = static_cast<int8_t>(final_value);
    stats.clamped += final_value != r;
    const double e0 = static_cast<double>(r0) - x;
    const double unclamped = static_cast<double>(r) - x;
    const double error_rtn = static_cast<double>(rtn) - x;
    const double error_final = static_cast<double>(final_value) - x;
    squared_rtn += error_rtn * error_rtn - e0 * e0;
    squared_final += error_final * error_final - unclamped * unclamped;
    rtn_shift += rtn - r0;
    final_shift += final_value - r;
    if (s.kernel_size > 1) {
      s.kernel_before[i / s.kernel_size] += rtn - r0;
      s.kernel_after[i / s.kernel_size] += final_value - r;
    }
    edge_rtn = std::max(edge_rtn, std::fabs(error_rtn));
    edge_final = std::max(edge_final, std::fabs(error_final));
  }
  const double scale = grid.scale;
  stats.squared_error_rtn = scale * scale * squared_rtn;
  stats.squared_error_squant = scale * scale * squared_final;
  if (s.kernel_size > 1) {
    if (sums.tiny) std::fill_n(s.dirty.get(), s.kernels, 1);
    KernelStats(grid, s.lane_layout != 0 && !sums.tiny, s, stats);
    return;
  }
  // K == 1: a kernel is one element. Moved elements (channel stage only)
  // err by 1 - |e0| >= 0.5, no less than any unmoved one.
  stats.channel_error_sum_before = std::fabs(sums.channel_sum + rtn_shift);
  stats.channel_error_sum_after = std::fabs(
      sums.channel_sum + static_cast<double>(tally.move_sum) + final_shift);
  stats.max_kernel_error_sum_before =
      std::max<double>(sums.max_abs_error, edge_rtn);
  // (K == 1 keeps x and move in memory order.)
  double moved = -1;
  for (const int32_t i : s.picks) {
    if (s.move[i] == 0) continue;
    const float r0 = std::nearbyint(s.x[i]);
    moved = std::max(moved,
                     std::fabs(static_cast<double>(r0 + s.move[i]) - s.x[i]));
  }
  stats.max_kernel_error_sum_after =
      std::max(moved >= 0 ? moved : sums.max_abs_error, edge_final);
}

// The lane-wise kernel stage adds squared errors in float32, whose squares
// of errors below 2^-23 (KernelStageSums::tiny) lose bits or underflow to
// 0: for such a channel, the sums again in double, as the reference's.
inline void SquaredErrorsInDouble(const ChannelScratch& s, PositionSums& sums,
                                  MoveTally& tally) {
  double rtn = 0, after = 0;
  for (size_t i = 0; i < s.size; ++i) {
    const float x = s.X(i);
    const double e0 = std::nearbyint(x) - x;
    const double error = e0 + s.Move(i, x);
    rtn += e0 * e0;
    after += error * error;
  }
  sums.squared_error = rtn;
  tally.squared_delta = after - rtn;
}

// Kernel sizes worth a fully unrolled ranking network.
inline constexpr size_t kUnrolledKernel = 9;  // 3x3

// The lane-wise kernel stage, unrolled for 3x3 kernels.
inline KernelStageSums KernelStage(size_t k, const ChannelGrid& grid, Grid kind,
                                   ChannelScratch& s) {
  const bool symmetric = kind == Grid::kSymmetric;
  if (k == kUnrolledKernel) {
    return symmetric ? KernelStageLanes<kUnrolledKernel, true>(k, grid, s)
                     : KernelStageLanes<kUnrolledKernel, false>(k, grid, s);
  }
  return symmetric ? KernelStageLanes<0, true>(k, grid, s)
                   : KernelStageLanes<0, false>(k, grid, s);
}

// PositionPass for the channel's path: the kernel sums (K > 1) need the
// errors in memory order; the channel stage alone does not.
inline PositionSums Position(bool kernel_stage, Grid kind,
                             const ChannelGrid& grid, ChannelScratch& s) {
  const bool symmetric = kind == Grid::kSymmetric;
  if (kernel_stage) {
    return symmetric ? PositionPass<true, true, true>(grid, s)
                     : PositionPass<true, false, true>(grid, s);
  }
  if (s.kernel_size > 1) {
    return symmetric ? PositionPass<false, true, true>(grid, s)
                     : PositionPass<false, false, true>(grid, s);
  }
  return symmetric ? PositionPass<false, true, false>(grid, s)
                   : PositionPass<false, false, false>(grid, s);
}

// Quantizes the non-degenerate channel in s.w into s.q; false if the
// channel has a NaN or Inf (then nothing else is done).
inline bool QuantizeChannel(const QuantOptions& options,
                            const ChannelGrid& grid, ChannelScratch& s,
                            ChannelStats& stats) {
  const size_t k = s.kernel_size;
  const bool kernel_stage = k > 1 && (options.mode == Mode::kSquant ||
                                      options.mode == Mode::kSquantK);
  const bool channel_stage =
      options.mode == Mode::kSquant || options.mode == Mode::kSquantC;
  // (Only kernels of K > 1 are ever recomputed.)
  if (k > 1) std::memset(s.dirty.get(), 0, s.padded_kernels);
  s.lane_layout = 0;
  PositionSums sums;
  MoveTally tally;
  if (kernel_stage && k <= kMaxLaneKernel) {
    const KernelStageSums kernel = KernelStage(k, grid, options.grid, s);
    if (std::isnan(kernel.squared_rtn)) return false;
    sums.squared_error = kernel.squared_rtn;
    sums.tiny = kernel.tiny;
    tally.kernel_flips = kernel.flips;
    tally.squared_delta = kernel.squared_kernel - kernel.squared_rtn;
    if (kernel.tiny) SquaredErrorsInDouble(s, sums, tally);
  } else {
    sums = Position(kernel_stage, options.grid, grid, s);
    if (std::isnan(sums.squared_error)) return false;
    if (k > kMaxLaneKernel) {
      std::memset(s.move.get(), 0, s.size * sizeof(float));
      LargeKernelPass(grid, kernel_stage, s, tally);
    } else if (k > 1) {
      k == kUnrolledKernel ? KernelSumsLanes<kUnrolledKernel>(k, s)
                           : KernelSumsLanes<0>(k, s);
    }
  }
  s.picks.clear();
  if (channel_stage) {
    // The canonical channel sum (error_sum.h) adds the kernels' sums.
    const double sum =
        k == 1 ? sums.channel_sum
               : FoldKernelSumsSimd(s.kernel_recorded.get(), s.kernels);
    ChannelStage(kernel_stage, sum, grid, s, tally);
  }
  ChannelStatistics(sums, tally, grid, s, stats);
  // Without a kernel stage only the channel stage's picks moved: zero them
  // for the next channel (cheaper than clearing every move).
  if (s.lane_layout == 0) {
    for (const int32_t i : s.picks) s.move[i] = 0;
  }
  return true;
}

// SQUANT.md "Degenerate channels": every q = sign(c).
inline void QuantizeDegenerateChannel(const ChannelGrid& grid,
                                      const ChannelScratch& s, int8_t* q,
                                      ChannelStats& stats) {
  const int8_t value = DegenerateValue(grid);
  std::memset(q, value, s.size);
  stats = ChannelStats{};
  stats.degenerate = true;
  const double dequantized = static_cast<double>(grid.scale) * value;
  for (size_t i = 0; i < s.size; ++i) {
    const double error = dequantized - s.w[i];
    stats.squared_error_squant += error * error;
  }
  stats.squared_error_rtn = stats.squared_error_squant;
}

absl::Status QuantizeChannelsSimd(const WeightTensor& weights,
                                  const LayerGeometry& geometry,
                                  int64_t first_channel, int64_t last_channel,
                                  QuantizedLayer& out) {
  // Element indices within a channel are int32 here.
  if (geometry.channel_size() > std::numeric_limits<int32_t>::max() / 2) {
    return QuantizeChannelsReference(weights, geometry, first_channel,
                                     last_channel, out);
  }
  const QuantOptions& options = out.options;
  ChannelScratch s(geometry);
  SetLaneMajorIndex(s);
  const size_t lanes = hn::Lanes(hn::ScalableTag<float>());
  const bool in_place = s.kernels % lanes == 0 || s.kernel_size == 1 ||
                        s.kernel_size > kMaxLaneKernel;
  s.element_bytes = static_cast<size_t>(DTypeSize(weights.dtype));
  s.grid_kind = options.grid;
  // ChannelScratch::w: float32 rows that need no padding are read in place.
  const bool row_in_place =
      weights.dtype == DType::kF32 && s.padded_size == s.size &&
      reinterpret_cast<uintptr_t>(weights.data.data()) % alignof(float) == 0;
  for (int64_t m = first_channel; m < last_channel; ++m) {
    // The next channel's row, which the pass after LoadRow (the lane-wise
    // kernel stage or PositionPass) prefetches while it computes this one.
    // (The last channel prefetches itself.)
    s.prefetch_row =
        RowBytes(weights, m + 1 < last_channel ? m + 1 : m, s.size);
    const bool symmetric = options.grid == Grid::kSymmetric;
    float* copy = row_in_place ? nullptr : s.w_buffer.get();
    s.w = row_in_place
              ? reinterpret_cast<const float*>(RowBytes(weights, m, s.size))
              : copy;
    const RowRange range = symmetric ? LoadRow<true>(weights, m, s.size, copy)
                                     : LoadRow<false>(weights, m, s.size, copy);
    const ChannelGrid grid =
        symmetric ? SymmetricGrid(range.max_abs, options.bits)
                  : AsymmetricGrid(range.lo, range.hi, options.bits);
    s.grid = grid;
    out.scale[m] = grid.scale;
    out.zero_point[m] = grid.zero_point;
    int8_t* q = out.values.data() + m * static_cast<int64_t>(s.size);
    // A NaN or Inf makes the grid degenerate or some e0 NaN; the scalar
    // load then names the first one.
    if (grid.degenerate) {
      s.w = s.w_buffer.get();
      absl::Status status = LoadInputRow(weights, m, s.size, s.w_buffer.get());
      if (!status.ok()) return status;
      QuantizeDegenerateChannel(grid, s, q, out.channel_stats[m]);
      continue;
    }
    s.q = in_place ? q : s.q_buffer.get();
    if (!QuantizeChannel(options, grid, s, out.channel_stats[m])) {
      absl::Status status = LoadInputRow(weights, m, s.size, s.w_buffer.get());
      return status.ok() ? absl::InternalError("NaN from finite weights")
                         : status;
    }
    if (!in_place) std::memcpy(q, s.q, s.size);
  }
  return absl::OkStatus();
}

#endif  // HWY_TARGET == HWY_SCALAR
}  // namespace HWY_NAMESPACE
}  // namespace squant
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace squant {

HWY_EXPORT(QuantizeChannelsSimd);

absl::Status QuantizeChannels(const WeightTensor& weights,
                              const LayerGeometry& geometry,
                              int64_t first_channel, int64_t last_channel,
                              QuantizedLayer& out) {
  return HWY_DYNAMIC_DISPATCH(QuantizeChannelsSimd)(
      weights, geometry, first_channel, last_channel, out);
}

}  // namespace squant
#endif  // HWY_ONCE
