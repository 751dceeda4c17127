#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "core/squant.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace squant {
namespace {

using ::testing::HasSubstr;

WeightTensor F32Tensor(const std::vector<int64_t>& shape,
                       const std::vector<float>& values) {
  return WeightTensor{
      DType::kF32, shape,
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(values.data()),
                          values.size() * sizeof(float))};
}

TEST(ValidateLayerTest, AcceptsConvAndLinearShapes) {
  std::vector<float> values(2 * 3 * 4 * 5);
  const std::vector<int64_t> conv = {2, 3, 4, 5};
  absl::StatusOr<LayerGeometry> geometry =
      ValidateLayer(F32Tensor(conv, values), QuantOptions{});
  ASSERT_TRUE(geometry.ok()) << geometry.status();
  EXPECT_EQ(geometry->channels, 2);
  EXPECT_EQ(geometry->kernels_per_channel, 3);
  EXPECT_EQ(geometry->kernel_size, 20);

  const std::vector<int64_t> linear = {6, 20};
  geometry = ValidateLayer(F32Tensor(linear, values), QuantOptions{});
  ASSERT_TRUE(geometry.ok()) << geometry.status();
  EXPECT_EQ(geometry->kernel_size, 1);
}

TEST(ValidateLayerTest, RejectsBadInputWithClearMessages) {
  std::vector<float> values(12);
  const std::vector<int64_t> rank1 = {12};
  const std::vector<int64_t> empty = {0, 12};
  const std::vector<int64_t> negative = {-1, -12};
  const std::vector<int64_t> wrong_count = {3, 5};
  const std::vector<int64_t> overflow = {int64_t{1} << 40, int64_t{1} << 40};
  const std::vector<int64_t> good = {3, 4};
  struct Case {
    const std::vector<int64_t>* shape;
    int bits;
    const char* message;
  };
  for (const Case& c :
       {Case{&rank1, 4, "rank 1"}, Case{&empty, 4, "empty"},
        Case{&negative, 4, "negative"}, Case{&wrong_count, 4, "needs 60"},
        Case{&overflow, 4, "too many elements"},
        Case{&good, 1, "bits 1 out of range"},
        Case{&good, 9, "bits 9 out of range"}}) {
    QuantOptions options;
    options.bits = c.bits;
    absl::StatusOr<LayerGeometry> geometry =
        ValidateLayer(F32Tensor(*c.shape, values), options);
    EXPECT_EQ(geometry.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(geometry.status().message(), HasSubstr(c.message));
  }
}

TEST(QuantizeTest, NamesTheFirstNonFiniteElement) {
  std::vector<float> values(4 * 6, 0.25f);
  values[13] = std::numeric_limits<float>::quiet_NaN();
  values[20] = std::numeric_limits<float>::infinity();
  const std::vector<int64_t> shape = {4, 6};
  for (int threads : {1, 2, 4}) {
    absl::StatusOr<QuantizedLayer> layer =
        Quantize(F32Tensor(shape, values), QuantOptions{}, threads);
    EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(layer.status().message(), HasSubstr("element 13"));
    EXPECT_THAT(layer.status().message(), HasSubstr("NaN"));
  }
}

TEST(PackInt4Test, RoundTripsRowsOfOddLength) {
  const LayerGeometry geometry{3, 5, 1};  // rows of 5: the last nibble pads
  std::vector<int8_t> values;
  for (int i = 0; i < 15; ++i)
    values.push_back(static_cast<int8_t>(i % 16 - 8));
  const std::vector<uint8_t> packed = PackInt4(values, geometry);
  ASSERT_EQ(packed.size(), 3u * 3u);
  // Element 0 (-8) is the low nibble of byte 0, element 1 (-7) the high one.
  EXPECT_EQ(packed[0], 0x98);
  EXPECT_EQ(packed[2] >> 4, 0);  // padding of row 0
  EXPECT_EQ(UnpackInt4(packed, geometry), values);
}

TEST(PackInt4Test, RoundTripsEveryValueInRowsOfEvenLength) {
  const LayerGeometry geometry{4, 33, 2};  // rows of 66
  std::vector<int8_t> values;
  for (int i = 0; i < 4 * 66; ++i) {
    values.push_back(static_cast<int8_t>((i * 7) % 16 - 8));
  }
  const std::vector<uint8_t> packed = PackInt4(values, geometry);
  ASSERT_EQ(packed.size(), 4u * 33u);
  // Row 1 starts at element 66: (66 * 7) % 16 - 8 = 6, then -3 (0xd).
  EXPECT_EQ(packed[33], 0xd6);
  EXPECT_EQ(UnpackInt4(packed, geometry), values);
}

TEST(NamesTest, ParseWhatTheyPrint) {
  for (Mode mode :
       {Mode::kSquant, Mode::kSquantK, Mode::kSquantC, Mode::kSquantE}) {
    EXPECT_EQ(*ParseMode(ModeName(mode)), mode);
  }
  for (Grid grid : {Grid::kAsymmetric, Grid::kSymmetric}) {
    EXPECT_EQ(*ParseGrid(GridName(grid)), grid);
  }
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    EXPECT_EQ(*ParseDType(DTypeName(dtype)), dtype);
  }
  EXPECT_FALSE(ParseMode("squant-x").ok());
  EXPECT_FALSE(ParseDType("I8").ok());
}

}  // namespace
}  // namespace squant
