// Deterministic random weights for the benchmarks, made before any timing:
// whole F32 layers for the small networks, and for models too big to hold
// (Llama-2-7B) a pool of random F16 values that layers are cut from.

#ifndef SQUANT_TOOLS_MODELBENCH_WEIGHT_SOURCE_H_
#define SQUANT_TOOLS_MODELBENCH_WEIGHT_SOURCE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace squant::modelbench {

// Weights like a trained layer's: normal with this standard deviation.
inline constexpr float kWeightStddev = 0.05f;

// `elements` normal F32 values as little-endian bytes, from `seed`.
std::vector<uint8_t> RandomF32Layer(int64_t elements, uint64_t seed);

// F16 bits of `value`, rounded toward zero, and 0 below F16's normal range
// (|value| < 2^-14): test data only needs values that are random, finite
// and exact in F16, not the correctly rounded neighbour.
uint16_t TruncateToF16(float value);

// A fixed pool of random normal F16 values. A layer's bytes are cut from
// it one chunk at a time: chunk (layer, offset) is the pool's bytes at a
// pseudo-random even position drawn from (seed, layer, offset), so a 13 GB
// model costs nothing to generate, is the same on every run for the same
// chunk size, and is never held whole.
class F16Pool {
 public:
  F16Pool(int64_t bytes, uint64_t seed);

  int64_t bytes() const { return static_cast<int64_t>(pool_.size()) * 2; }

  // `size` (even, at most bytes()) bytes for the chunk at `offset` of
  // layer `layer`; a view into the pool, valid while the pool lives.
  absl::Span<const uint8_t> Chunk(uint64_t layer, uint64_t offset,
                                  uint64_t size) const;

 private:
  uint64_t seed_;
  std::vector<uint16_t> pool_;
};

}  // namespace squant::modelbench

#endif  // SQUANT_TOOLS_MODELBENCH_WEIGHT_SOURCE_H_
