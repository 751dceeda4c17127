// Exact conversions of the 16-bit input formats to float32. Every F16 and
// BF16 value has an exact float32 image, so these never round.

#ifndef SQUANT_CORE_FLOAT_CONVERT_H_
#define SQUANT_CORE_FLOAT_CONVERT_H_

#include <bit>
#include <cstdint>
#include <cstring>

namespace squant {

inline float Bf16BitsToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

inline float F16BitsToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) {  // Inf or NaN keeps its payload.
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent != 0) {
    return std::bit_cast<float>(sign | ((exponent + 112) << 23) |
                                (mantissa << 13));
  }
  if (mantissa == 0) return std::bit_cast<float>(sign);
  // Subnormal half: normalize into float32's wider exponent range.
  int shift = 0;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    ++shift;
  }
  mantissa &= 0x3ffu;
  return std::bit_cast<float>(sign | ((113 - shift) << 23) | (mantissa << 13));
}

// Reads element `index` of a little-endian buffer of `dtype` as float32.
// (Little-endian hosts only, like the rest of the project.)
inline float LoadF32(const uint8_t* data, int64_t index) {
  float value;
  std::memcpy(&value, data + 4 * index, sizeof(value));
  return value;
}
inline uint16_t LoadU16(const uint8_t* data, int64_t index) {
  uint16_t value;
  std::memcpy(&value, data + 2 * index, sizeof(value));
  return value;
}

}  // namespace squant

#endif  // SQUANT_CORE_FLOAT_CONVERT_H_
