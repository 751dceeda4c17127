// Per-target: reading one output channel as float32 (with its range and a
// finiteness check) and placing it on the channel's grid.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "core/channel_grid.h"
#include "core/error_sum.h"
#include "core/fast/flip_masks-inl.h"
#include "core/fast/mask_bits-inl.h"
#include "core/fast/moves.h"
#include "core/fast/scratch.h"
#include "core/float_convert.h"
#include "core/squant.h"

#if defined(SQUANT_CORE_FAST_ROW_LOAD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SQUANT_CORE_FAST_ROW_LOAD_INL_H_
#undef SQUANT_CORE_FAST_ROW_LOAD_INL_H_
#else
#define SQUANT_CORE_FAST_ROW_LOAD_INL_H_
#endif

#include "hwy/cache_control.h"
#include "hwy/highway.h"

// HWY_SCALAR (x86-64 without SSSE3) has no half vectors; it uses the
// reference implementation (quantize_fast.cc).
#if HWY_TARGET != HWY_SCALAR
HWY_BEFORE_NAMESPACE();
namespace squant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

struct RowRange {
  float lo = 0, hi = 0, max_abs = 0;
};

// Loads Lanes(df) elements of `dtype` starting at byte `bytes` as float32.
// Byte loads keep unaligned input legal.
template <class DF>
hn::Vec<DF> LoadAsFloat(DF df, DType dtype, const uint8_t* bytes) {
  if (dtype == DType::kF32) {
    const hn::Repartition<uint8_t, DF> d8;
    return hn::BitCast(df, hn::LoadU(d8, bytes));
  }
  const hn::Rebind<uint16_t, DF> d16;
  const hn::Repartition<uint8_t, decltype(d16)> d8;
  const auto bits = hn::BitCast(d16, hn::LoadU(d8, bytes));
  if (dtype == DType::kF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::BitCast(dh, bits));
  }
  const hn::RebindToUnsigned<DF> du;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, bits)));
}

inline float LoadScalarAsFloat(DType dtype, const uint8_t* data,
                               int64_t index) {
  switch (dtype) {
    case DType::kF32:
      return LoadF32(data, index);
    case DType::kF16:
      return F16BitsToFloat(LoadU16(data, index));
    case DType::kBF16:
      return Bf16BitsToFloat(LoadU16(data, index));
  }
  return 0;
}

// Converts `size` elements of dtype kDType at `row` into w (with kCopy)
// and returns their range (max_abs with kMaxAbs only). The dtype is a
// template parameter so that the loop does not reload it after every store
// to w.
template <bool kMaxAbs, DType kDType, bool kCopy = true>
HWY_INLINE RowRange LoadRowOf(const uint8_t* HWY_RESTRICT row, size_t size,
                              float* HWY_RESTRICT w) {
  const hn::ScalableTag<float> df;
  const size_t lanes = hn::Lanes(df);
  constexpr size_t kElementBytes = kDType == DType::kF32 ? 4 : 2;
  auto lo = hn::Set(df, std::numeric_limits<float>::infinity());
  auto hi = hn::Neg(lo);
  auto max_abs = hn::Zero(df);
  auto load = [&](size_t i) {
    const auto v = LoadAsFloat(df, kDType, row + i * kElementBytes);
    if (kCopy) hn::Store(v, df, w + i);
    lo = hn::Min(lo, v);
    hi = hn::Max(hi, v);
    if (kMaxAbs) max_abs = hn::Max(max_abs, hn::Abs(v));
  };
  size_t i = 0;
  for (; i + lanes <= size; i += lanes) load(i);
  RowRange range;
  range.lo = hn::GetLane(hn::MinOfLanes(df, lo));
  range.hi = hn::GetLane(hn::MaxOfLanes(df, hi));
  range.max_abs = hn::GetLane(hn::MaxOfLanes(df, max_abs));
  for (; i < size; ++i) {
    const float v = LoadScalarAsFloat(kDType, row, static_cast<int64_t>(i));
    if (kCopy) w[i] = v;
    range.lo = std::min(range.lo, v);
    range.hi = std::max(range.hi, v);
    range.max_abs = std::max(range.max_abs, std::fabs(v));
  }
  return range;
}

// The bytes of output channel `channel`, `size` elements.
inline const uint8_t* RowBytes(const WeightTensor& weights, int64_t channel,
                               size_t size) {
  return weights.data.data() +
         static_cast<size_t>(channel) * size *
             static_cast<size_t>(DTypeSize(weights.dtype));
}

// Converts output channel `channel` (its `size` elements) into w and returns
// its range (max_abs with kMaxAbs only); a float32 row is only read where w
// is null (ChannelScratch::w). Elements of w past `size` are left as they
// are (zero). Finiteness is checked later, for free (PositionSums). The pass
// after it prefetches the next row (ChannelScratch::prefetch_row).
template <bool kMaxAbs>
HWY_NOINLINE RowRange LoadRow(const WeightTensor& weights, int64_t channel,
                              size_t size, float* HWY_RESTRICT w) {
  const uint8_t* row = RowBytes(weights, channel, size);
  switch (weights.dtype) {
    case DType::kF32:
      return w == nullptr ? LoadRowOf<kMaxAbs, DType::kF32, false>(row, size, w)
                          : LoadRowOf<kMaxAbs, DType::kF32>(row, size, w);
    case DType::kF16:
      return LoadRowOf<kMaxAbs, DType::kF16>(row, size, w);
    case DType::kBF16:
      return LoadRowOf<kMaxAbs, DType::kBF16>(row, size, w);
  }
  return RowRange{};
}

struct PositionSums {
  // Sum of e0^2: NaN iff some w is not finite (then x or e0 is NaN), unless
  // the grid itself came out degenerate.
  double squared_error = 0;
  // Without a kernel stage: ChannelErrorSum of e0, and max |e0|.
  double channel_sum = 0;
  float max_abs_error = 0;
  // With a kernel stage: some 0 < |e0| < 2^-23, as every 0 < |x| < 2^-23
  // has (and a few larger x): the errors' double sums may round, so their
  // order matters (see KernelStageLanes).
  bool tiny = false;
};

// Places the channel in s.w on the grid: x = (w * step) - offset, or
// w / divisor on the symmetric grid (GridPosition's float32 operations);
// e0 = rint(x) - x, into e with kKeepErrors (the kernel sums need it; the
// channel stage alone, K = 1, does not); q = rint(x), unclamped (see
// ChannelStatistics); the elements whose rint(x) lies outside [t_min,
// t_max] in s.edges, their kernels marked dirty; without a kernel stage,
// signed_priority too. Past the end, x = e = signed_priority = 0.
template <bool kKernelStage, bool kSymmetric, bool kKeepErrors>
HWY_NOINLINE PositionSums PositionPass(const ChannelGrid& grid,
                                       ChannelScratch& s) {
  static_assert(kKeepErrors || !kKernelStage);
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Rebind<uint8_t, decltype(du)> d8;
  const auto bias = hn::Set(df, 12582912.0f);
  const hn::Repartition<double, decltype(df)> dd;
  const hn::Half<decltype(df)> dh;
  using VD = hn::Vec<decltype(dd)>;
  const size_t lanes = hn::Lanes(df);
  constexpr size_t kHalfLanes = hn::MaxLanes(dd);
  static_assert(kChannelSumLanes % (2 * kHalfLanes) == 0);
  constexpr size_t kSumVectors = kChannelSumLanes / kHalfLanes;

  const auto divisor = hn::Set(df, grid.divisor);
  const auto step = hn::Set(df, grid.step);
  const auto offset = hn::Set(df, grid.offset);
  const auto zero = hn::Zero(df);
  const auto t_min = hn::Set(df, grid.t_min);
  const auto t_max = hn::Set(df, grid.t_max);
  const auto tiny_limit = hn::Set(df, 0x1p-23f);
  VD sums[kSumVectors];
  for (size_t v = 0; v < kSumVectors; ++v) sums[v] = hn::Zero(dd);
  VD squared = hn::Zero(dd);
  auto max_error = zero;
  auto tiny = hn::Lt(zero, zero);

  const float* HWY_RESTRICT w = s.w;
  float* HWY_RESTRICT x = s.x.get();
  float* HWY_RESTRICT e = s.e.get();
  float* HWY_RESTRICT priority = s.signed_priority.get();
  int8_t* HWY_RESTRICT q = s.q;
  int32_t* HWY_RESTRICT extreme_blocks = s.extreme_blocks.get();
  size_t blocks_with_extremes = 0;
  size_t i = 0;
  // Whole blocks of the 16 canonical channel-sum lanes.
  for (; i + kChannelSumLanes <= s.size; i += kChannelSumLanes) {
    // The next row, spread over this pass (see KernelStageLanes).
    hwy::Prefetch(s.prefetch_row + i * s.element_bytes);
    auto lowest = t_max, highest = t_min;
    HWY_UNROLL(16)
    for (size_t b = 0; b < kChannelSumLanes; b += lanes) {
      const auto wi = hn::LoadU(df, w + i + b);
      const auto xi = kSymmetric ? hn::Div(wi, divisor)
                                 : hn::Sub(hn::Mul(wi, step), offset);
      const auto r0 = hn::Round(xi);
      const auto e0 = hn::Sub(r0, xi);
      hn::Store(xi, df, x + i + b);
      if (kKeepErrors) hn::Store(e0, df, e + i + b);
      // Every element can flip toward -e0 but those at the grid's ends
      // (fixed below).
      if (!kKernelStage) hn::Store(e0, df, priority + i + b);
      // r + 1.5 * 2^23 holds r in its low mantissa bits, two's complement.
      // No clamp: ChannelStatistics clamps the edges, the only elements
      // whose rint(x) lies outside the grid.
      const auto biased = hn::Add(r0, bias);
      hn::StoreU(hn::TruncateTo(d8, hn::BitCast(du, biased)), d8,
                 reinterpret_cast<uint8_t*>(q) + i + b);
      const VD lo = hn::PromoteTo(dd, hn::LowerHalf(dh, e0));
      const VD hi = hn::PromoteTo(dd, hn::UpperHalf(dh, e0));
      squared = hn::MulAdd(hi, hi, hn::MulAdd(lo, lo, squared));
      if (!kKernelStage) {
        sums[b / kHalfLanes] = hn::Add(sums[b / kHalfLanes], lo);
        sums[b / kHalfLanes + 1] = hn::Add(sums[b / kHalfLanes + 1], hi);
        max_error = hn::Max(max_error, hn::Abs(e0));
      } else {
        const auto magnitude = hn::Abs(e0);
        tiny = hn::Or(tiny, hn::And(hn::Lt(magnitude, tiny_limit),
                                    hn::Gt(magnitude, zero)));
      }
      lowest = hn::Min(lowest, xi);
      highest = hn::Max(highest, xi);
    }
    if (HWY_UNLIKELY(!hn::AllFalse(
            df, hn::Or(hn::Ge(highest, t_max), hn::Le(lowest, t_min))))) {
      extreme_blocks[blocks_with_extremes++] = static_cast<int32_t>(i);
    }
  }
  // Blocks with an element at the grid's ends: it cannot flip outward, and
  // clamping may change its q.
  s.edges.clear();
  for (size_t block = 0; block < blocks_with_extremes; ++block) {
    const size_t first = static_cast<size_t>(extreme_blocks[block]);
    for (size_t b = first; b < first + kChannelSumLanes; b += lanes) {
      const auto xi = hn::Load(df, x + b);
      const auto r0 = hn::Round(xi);
      if (!kKernelStage) {
        const auto e0 = hn::Sub(r0, xi);
        const auto can = CanFlip(df, e0, xi, t_min, t_max);
        hn::Store(hn::IfThenElseZero(hn::Or(can.up, can.down), e0), df,
                  priority + b);
      }
      uint64_t outside =
          MaskBits(df, hn::Or(hn::Lt(r0, t_min), hn::Gt(r0, t_max)));
      while (outside != 0) {
        s.AddEdge(b + PopLowestBit(outside));
      }
    }
  }
  alignas(64) double lanes16[kChannelSumLanes];
  for (size_t v = 0; v < kSumVectors; ++v) {
    hn::Store(sums[v], dd, lanes16 + v * kHalfLanes);
  }
  PositionSums result;
  result.squared_error = hn::GetLane(hn::SumOfLanes(dd, squared));
  result.max_abs_error = hn::GetLane(hn::MaxOfLanes(df, max_error));
  result.tiny = !hn::AllFalse(df, tiny);
  // The rest, one element at a time with the same operations.
  const Grid kind = kSymmetric ? Grid::kSymmetric : Grid::kAsymmetric;
  for (; i < s.size; ++i) {
    const float xi = GridPosition(grid, kind, w[i]);
    const float r0 = std::nearbyint(xi);
    const float e0 = r0 - xi;
    x[i] = xi;
    if (kKeepErrors) e[i] = e0;
    priority[i] = FlipMove(e0 < 0, xi, e0, grid) != 0 ? e0 : 0.0f;
    // fmax/fmin, not clamp: a NaN from a non-finite input (reported after
    // this pass) must not reach the float-to-int cast, which is UB.
    q[i] =
        static_cast<int8_t>(std::fmin(std::fmax(r0, grid.t_min), grid.t_max));
    result.squared_error += static_cast<double>(e0) * e0;
    lanes16[i % kChannelSumLanes] += e0;
    result.max_abs_error = std::max(result.max_abs_error, std::fabs(e0));
    result.tiny = result.tiny || (std::fabs(e0) < 0x1p-23f && e0 != 0);
    if (OutsideGrid(grid, r0)) s.AddEdge(i);
  }
  if (!kKernelStage) {
    // Each lane holds its own sum: folding them as 16 "kernels" adds 0 to
    // each, which is exact.
    result.channel_sum = FoldKernelSums(lanes16, kChannelSumLanes);
  }
  for (size_t j = s.size; j < s.padded_size; ++j) {
    x[j] = e[j] = priority[j] = 0.0f;
  }
  return result;
}

}  // namespace HWY_NAMESPACE
}  // namespace squant
HWY_AFTER_NAMESPACE();
#endif  // HWY_TARGET != HWY_SCALAR

#endif  // SQUANT_CORE_FAST_ROW_LOAD_INL_H_
