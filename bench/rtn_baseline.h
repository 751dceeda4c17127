// The benchmark's baseline: round to nearest on SQuant's asymmetric grid,
// the least any quantizer must do (read each float, find the channel's
// range, write one int8), as a plain SIMD loop.

#ifndef SQUANT_BENCH_RTN_BASELINE_H_
#define SQUANT_BENCH_RTN_BASELINE_H_

#include <cstdint>

namespace squant::bench {

// Quantizes channels [first, last) of a float32 [channels, row] tensor.
void RoundToNearestChannels(const float* weights, int64_t row, int bits,
                            int64_t first, int64_t last, int8_t* values,
                            float* scale, int32_t* zero_point);

}  // namespace squant::bench

#endif  // SQUANT_BENCH_RTN_BASELINE_H_
