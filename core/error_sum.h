// The one association in which every implementation adds rounding errors.
// SQuant's decisions depend on round(|S|) and the sign of S, so two
// implementations agree bit for bit only if they add in the same order. The
// order is chosen to suit SIMD: double precision (the golden decisions are
// the same with float32, double leaves margin), kernel sums sequential over
// the kernel (one kernel per lane), channel sums in 16 interleaved
// accumulators folded by halves.

#ifndef SQUANT_CORE_ERROR_SUM_H_
#define SQUANT_CORE_ERROR_SUM_H_

#include <cstdint>

namespace squant {

inline constexpr int kChannelSumLanes = 16;

// Sum of e[0..count) in double, sequentially.
inline double KernelErrorSum(const float* e, int64_t count) {
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(e[i]);
  return sum;
}

// Sum of e[0..count) in double: lane j accumulates the elements i with
// i % 16 == j in index order; then lanes fold by halves (lane j += lane j+8,
// then j+4, j+2, j+1), as a SIMD horizontal reduction does.
inline double ChannelErrorSum(const float* e, int64_t count) {
  double lanes[kChannelSumLanes] = {};
  for (int64_t i = 0; i < count; ++i) {
    lanes[i % kChannelSumLanes] += static_cast<double>(e[i]);
  }
  for (int half = kChannelSumLanes / 2; half >= 1; half /= 2) {
    for (int j = 0; j < half; ++j) lanes[j] += lanes[j + half];
  }
  return lanes[0];
}

}  // namespace squant

#endif  // SQUANT_CORE_ERROR_SUM_H_
