// Per-target: after the kernel stage has written each element's recorded
// error into s.e, derives in memory order (contiguous SIMD, no scatter)
// where r moved from rint(x), the int8 values and the stage's tally.

#include <cstddef>
#include <cstdint>

#include "core/channel_grid.h"
#include "core/fast/moves.h"
#include "core/fast/scratch.h"

#if defined(SQUANT_CORE_FAST_KERNEL_MOVES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SQUANT_CORE_FAST_KERNEL_MOVES_INL_H_
#undef SQUANT_CORE_FAST_KERNEL_MOVES_INL_H_
#else
#define SQUANT_CORE_FAST_KERNEL_MOVES_INL_H_
#endif

#include "hwy/highway.h"

#if HWY_TARGET != HWY_SCALAR
HWY_BEFORE_NAMESPACE();
namespace squant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// A flip records e0 +- 1 where the element could move and 0 where it could
// not (|0 - e0| <= 0.5), so |e - e0| > 0.75 exactly where r moved, and the
// move is its sign. Writes s.move and s.q for every element and adds the
// moves to the tally: (e0 + move)^2 - e0^2 = 1 - 2|e0|. Leaves
// tally.move_sum alone: only the statistics of K == 1 read it, and K == 1
// has no kernel stage.
HWY_NOINLINE void KernelMoves(const ChannelGrid& grid, ChannelScratch& s,
                              MoveTally& tally) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Rebind<uint8_t, decltype(du)> d8;
  const hn::Repartition<double, decltype(df)> dd;
  const hn::Half<decltype(df)> dh;
  const size_t lanes = hn::Lanes(df);
  // r + 1.5 * 2^23 holds r in its low mantissa bits, two's complement.
  const auto bias = hn::Set(df, 12582912.0f);
  const auto one = hn::Set(df, 1.0f);
  const auto threshold = hn::Set(df, 0.75f);
  const auto t_min = hn::Set(df, grid.t_min);
  const auto t_max = hn::Set(df, grid.t_max);
  auto flips = hn::Zero(di);           // -1 per moved element, per lane
  auto moved_error_lo = hn::Zero(dd);  // sum of |e0| over moved elements
  auto moved_error_hi = hn::Zero(dd);
  const float* HWY_RESTRICT x = s.x.get();
  const float* HWY_RESTRICT e = s.e.get();
  uint8_t* HWY_RESTRICT move = reinterpret_cast<uint8_t*>(s.move.get());
  uint8_t* HWY_RESTRICT q = reinterpret_cast<uint8_t*>(s.q.get());
  for (size_t i = 0; i < s.size; i += lanes) {
    const auto xi = hn::Load(df, x + i);
    const auto r0 = hn::Round(xi);
    const auto e0 = hn::Sub(r0, xi);
    const auto shift = hn::Sub(hn::Load(df, e + i), e0);
    const auto moved = hn::Gt(hn::Abs(shift), threshold);
    const auto step = hn::IfThenElseZero(moved, hn::CopySignToAbs(one, shift));
    const auto r = hn::Add(r0, step);
    hn::StoreU(
        hn::TruncateTo(
            d8,
            hn::BitCast(du, hn::Add(hn::Min(hn::Max(r, t_min), t_max), bias))),
        d8, q + i);
    hn::StoreU(hn::TruncateTo(d8, hn::BitCast(du, hn::Add(step, bias))), d8,
               move + i);
    flips = hn::Add(flips, hn::BitCast(di, hn::VecFromMask(df, moved)));
    const auto error = hn::IfThenElseZero(moved, hn::Abs(e0));
    moved_error_lo =
        hn::Add(moved_error_lo, hn::PromoteTo(dd, hn::LowerHalf(dh, error)));
    moved_error_hi =
        hn::Add(moved_error_hi, hn::PromoteTo(dd, hn::UpperHalf(dh, error)));
  }
  const int64_t count = -hn::GetLane(hn::SumOfLanes(di, flips));
  tally.kernel_flips += count;
  tally.squared_delta +=
      static_cast<double>(count) -
      2.0 * hn::GetLane(
                hn::SumOfLanes(dd, hn::Add(moved_error_lo, moved_error_hi)));
}

}  // namespace HWY_NAMESPACE
}  // namespace squant
HWY_AFTER_NAMESPACE();
#endif  // HWY_TARGET != HWY_SCALAR

#endif  // SQUANT_CORE_FAST_KERNEL_MOVES_INL_H_
