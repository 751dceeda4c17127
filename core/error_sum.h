// The one association in which every implementation adds rounding errors.
// SQuant's decisions depend on round(|S|) and the sign of S, so two
// implementations agree bit for bit only if they add in the same order. The
// order is chosen to suit SIMD: double precision (the golden decisions are
// the same with float32, double leaves margin), kernel sums sequential over
// the kernel (one kernel per lane), channel sums as the sum of the kernel
// sums, in 16 interleaved accumulators folded by halves (so that a
// lane-wise kernel stage never needs its errors back in memory order).

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

// The kernel sums of a channel, sums[0..kernels), added in 16 accumulators
// (lane j takes the kernels with index % 16 == j, in order) that then fold
// by halves (lane j += lane j+8, then j+4, j+2, j+1), as a SIMD horizontal
// reduction does.
inline double FoldKernelSums(const double* sums, int64_t kernels) {
  double lanes[kChannelSumLanes] = {};
  for (int64_t i = 0; i < kernels; ++i) lanes[i % kChannelSumLanes] += sums[i];
  for (int half = kChannelSumLanes / 2; half >= 1; half /= 2) {
    for (int j = 0; j < half; ++j) lanes[j] += lanes[j + half];
  }
  return lanes[0];
}

// Sum of a channel's errors e[0..kernels * kernel_size): each kernel's
// KernelErrorSum, folded by FoldKernelSums. (With kernel_size 1, the
// elements themselves in 16 accumulators.)
inline double ChannelErrorSum(const float* e, int64_t kernels,
                              int64_t kernel_size) {
  double lanes[kChannelSumLanes] = {};
  for (int64_t i = 0; i < kernels; ++i) {
    lanes[i % kChannelSumLanes] +=
        KernelErrorSum(e + i * kernel_size, kernel_size);
  }
  return FoldKernelSums(lanes, kChannelSumLanes);
}

}  // namespace squant

#endif  // SQUANT_CORE_ERROR_SUM_H_
