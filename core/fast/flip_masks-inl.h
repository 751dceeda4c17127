// Per-target: FlipMove's test (moves.h) on vectors. An element can flip up
// if e0 < 0 and x < t_max, down if e0 > 0 and x > t_min: at the grid's
// ends it cannot flip outward.

#if defined(SQUANT_CORE_FAST_FLIP_MASKS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SQUANT_CORE_FAST_FLIP_MASKS_INL_H_
#undef SQUANT_CORE_FAST_FLIP_MASKS_INL_H_
#else
#define SQUANT_CORE_FAST_FLIP_MASKS_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace squant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class DF>
struct FlipMasks {
  hn::Mask<DF> up;
  hn::Mask<DF> down;
};

template <class DF, class VF>
HWY_INLINE FlipMasks<DF> CanFlip(DF df, VF e0, VF x, VF t_min, VF t_max) {
  const VF zero = hn::Zero(df);
  return {hn::And(hn::Lt(e0, zero), hn::Lt(x, t_max)),
          hn::And(hn::Gt(e0, zero), hn::Gt(x, t_min))};
}

}  // namespace HWY_NAMESPACE
}  // namespace squant
HWY_AFTER_NAMESPACE();

#endif  // SQUANT_CORE_FAST_FLIP_MASKS_INL_H_
