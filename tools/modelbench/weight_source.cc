#include "tools/modelbench/weight_source.h"

#include <cstring>
#include <random>

namespace squant::modelbench {
namespace {

// SplitMix64's finalizer: a well-mixed 64-bit hash of its input.
uint64_t Mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::vector<uint8_t> RandomF32Layer(int64_t elements, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, kWeightStddev);
  std::vector<uint8_t> bytes(elements * sizeof(float));
  for (int64_t i = 0; i < elements; ++i) {
    const float value = normal(rng);
    std::memcpy(bytes.data() + i * sizeof(float), &value, sizeof(float));
  }
  return bytes;
}

uint16_t TruncateToF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign;            // below 2^-14: zero
  if (exponent >= 31) return sign | 0x7bff;  // the largest finite F16
  return sign | static_cast<uint16_t>(exponent << 10) |
         static_cast<uint16_t>((bits >> 13) & 0x3ff);
}

F16Pool::F16Pool(int64_t bytes, uint64_t seed) : seed_(seed), pool_(bytes / 2) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, kWeightStddev);
  for (uint16_t& value : pool_) value = TruncateToF16(normal(rng));
}

absl::Span<const uint8_t> F16Pool::Chunk(uint64_t layer, uint64_t offset,
                                         uint64_t size) const {
  const uint64_t positions = pool_.size() - size / 2 + 1;
  const uint64_t start = Mix(Mix(seed_ ^ layer) + offset) % positions;
  return absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(pool_.data() + start), size);
}

}  // namespace squant::modelbench
