// Per-target: a mask as an integer, bit l = lane l, for walking the few set
// lanes of a sparse mask. (Cheaper here than CompressStore, whose AVX2 index
// table Highway 1.0.3 copies onto the stack on every call.)

#include <cstdint>
#include <cstring>

#if defined(SQUANT_CORE_FAST_MASK_BITS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SQUANT_CORE_FAST_MASK_BITS_INL_H_
#undef SQUANT_CORE_FAST_MASK_BITS_INL_H_
#else
#define SQUANT_CORE_FAST_MASK_BITS_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace squant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D>
HWY_INLINE uint64_t MaskBits(D d, hn::Mask<D> mask) {
  uint8_t bytes[8] = {};
  hn::StoreMaskBits(d, mask, bytes);
  uint64_t bits;
  std::memcpy(&bits, bytes, sizeof(bits));
  return bits;
}

// Index of the lowest set bit of bits != 0, and clears it.
HWY_INLINE size_t PopLowestBit(uint64_t& bits) {
  const size_t index = hwy::Num0BitsBelowLS1Bit_Nonzero64(bits);
  bits &= bits - 1;
  return index;
}

}  // namespace HWY_NAMESPACE
}  // namespace squant
HWY_AFTER_NAMESPACE();

#endif  // SQUANT_CORE_FAST_MASK_BITS_INL_H_
