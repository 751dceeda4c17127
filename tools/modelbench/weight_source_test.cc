#include "tools/modelbench/weight_source.h"

#include <cmath>
#include <cstring>

#include "gtest/gtest.h"

namespace squant::modelbench {
namespace {

// Decodes what TruncateToF16 makes: zeros and normal numbers (exponent 31,
// Inf or NaN, would be a bug and decodes as NaN).
float F16Value(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1f;
  const float sign = (bits & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 31) return NAN;
  if (exponent == 0) return (bits & 0x3ff) ? NAN : sign * 0.0f;
  return sign * std::ldexp(1.0f + (bits & 0x3ff) / 1024.0f, exponent - 15);
}

TEST(TruncateToF16Test, KeepsF16ValuesAndTruncatesOthers) {
  EXPECT_EQ(TruncateToF16(1.0f), 0x3c00);
  EXPECT_EQ(TruncateToF16(-2.0f), 0xc000);
  EXPECT_EQ(TruncateToF16(0.1f), 0x2e66);   // 0.0999755859375, toward zero
  EXPECT_EQ(TruncateToF16(1e-6f), 0x0000);  // below F16's normal range
  EXPECT_EQ(TruncateToF16(1e6f), 0x7bff);   // the largest finite F16
  for (float value : {0.05f, -0.123f, 3.5f, 7e-5f}) {
    const float back = F16Value(TruncateToF16(value));
    EXPECT_LE(std::fabs(back), std::fabs(value));
    EXPECT_LT(std::fabs(value - back), std::fabs(value) * 1e-3f);
  }
}

TEST(F16PoolTest, ChunksAreDeterministicAndDiffer) {
  const F16Pool pool(1 << 20, 7);
  const F16Pool again(1 << 20, 7);
  const auto a = pool.Chunk(3, 4096, 1024);
  const auto b = again.Chunk(3, 4096, 1024);
  ASSERT_EQ(a.size(), 1024u);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0);
  EXPECT_NE(pool.Chunk(3, 8192, 1024).data(), a.data());
  EXPECT_NE(pool.Chunk(4, 4096, 1024).data(), a.data());
  // Even positions only, and a chunk as big as the pool fits.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 2, 0u);
  EXPECT_EQ(pool.Chunk(1, 0, pool.bytes()).size(),
            static_cast<size_t>(pool.bytes()));
}

TEST(F16PoolTest, ValuesAreFiniteAndNormalLooking) {
  const F16Pool pool(1 << 20, 1);
  const auto bytes = pool.Chunk(0, 0, pool.bytes());
  double sum = 0, squares = 0;
  const size_t count = bytes.size() / 2;
  for (size_t i = 0; i < count; ++i) {
    uint16_t bits;
    std::memcpy(&bits, bytes.data() + 2 * i, 2);
    const float value = F16Value(bits);
    ASSERT_TRUE(std::isfinite(value));
    sum += value;
    squares += value * value;
  }
  EXPECT_NEAR(sum / count, 0.0, 1e-3);
  EXPECT_NEAR(std::sqrt(squares / count), kWeightStddev, 1e-3);
}

TEST(RandomF32LayerTest, SameSeedSameBytes) {
  EXPECT_EQ(RandomF32Layer(1000, 5), RandomF32Layer(1000, 5));
  EXPECT_NE(RandomF32Layer(1000, 5), RandomF32Layer(1000, 6));
}

}  // namespace
}  // namespace squant::modelbench
