// Every case of shared/golden/manifest.json, reproduced exactly: q_stable
// where the case has it (ties taken lower index first), else q; scale and
// zero_point in our convention (scale = float32 1/s within one ulp,
// zero_point = -z); degenerate channels (|z| >= 2^24) by SQUANT.md's rule.

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "core/float_convert.h"
#include "core/squant.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "safetensors/safetensors.h"

namespace squant {
namespace {

constexpr int kGoldenCases = 43;

std::vector<std::string> GoldenFiles() {
  std::ifstream manifest(std::string(SQUANT_GOLDEN_DIR) + "/manifest.json");
  const nlohmann::json json =
      nlohmann::json::parse(manifest, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> files;
  if (json.is_discarded()) return files;
  for (const nlohmann::json& entry : json["cases"]) {
    files.push_back(entry["file"].get<std::string>());
  }
  return files;
}

TEST(GoldenManifestTest, ListsEveryCase) {
  EXPECT_EQ(GoldenFiles().size(), kGoldenCases)
      << "cannot read " SQUANT_GOLDEN_DIR "/manifest.json";
}

template <typename T>
std::vector<T> TensorAs(const safetensors::MappedFile& file,
                        const std::string& name) {
  const safetensors::TensorInfo* info = file.Find(name);
  if (info == nullptr) return {};
  absl::Span<const uint8_t> bytes = file.Data(*info);
  std::vector<T> values(bytes.size() / sizeof(T));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  return values;
}

int64_t UlpDistance(float a, float b) {
  return std::abs(static_cast<int64_t>(std::bit_cast<int32_t>(a)) -
                  std::bit_cast<int32_t>(b));
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesReferenceExactly) {
  const std::string path = std::string(SQUANT_GOLDEN_DIR) + "/" + GetParam();
  absl::StatusOr<safetensors::MappedFile> file =
      safetensors::MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto& metadata = file->metadata();
  QuantOptions options;
  ASSERT_TRUE(absl::SimpleAtoi(metadata.at("bits"), &options.bits));
  absl::StatusOr<Mode> mode = ParseMode(metadata.at("mode"));
  ASSERT_TRUE(mode.ok()) << mode.status();
  options.mode = *mode;

  const safetensors::TensorInfo* weight = file->Find("weight");
  ASSERT_NE(weight, nullptr);
  absl::StatusOr<DType> dtype = ParseDType(weight->dtype);
  ASSERT_TRUE(dtype.ok()) << dtype.status();
  const WeightTensor input{*dtype, weight->shape, file->Data(*weight)};

  const bool has_stable = file->Find("q_stable") != nullptr;
  const std::vector<int8_t> expected_q =
      TensorAs<int8_t>(*file, has_stable ? "q_stable" : "q");
  const std::vector<float> reference_s = TensorAs<float>(*file, "scale");
  const std::vector<float> reference_z = TensorAs<float>(*file, "zero_point");

  for (int threads : {1, 3}) {
    absl::StatusOr<QuantizedLayer> layer = Quantize(input, options, threads);
    ASSERT_TRUE(layer.ok()) << layer.status();
    const int64_t channels = layer->geometry.channels;
    const int64_t row = layer->geometry.channel_size();
    ASSERT_EQ(static_cast<int64_t>(reference_s.size()), channels);
    ASSERT_EQ(static_cast<int64_t>(expected_q.size()), channels * row);
    int64_t degenerate = 0;
    for (int64_t m = 0; m < channels; ++m) {
      const int8_t* q = layer->values.data() + m * row;
      if (std::fabs(reference_z[m]) >= 16777216.0f) {
        // Degenerate: the constant c = (lo + hi) / 2, encoded as sign(c).
        std::vector<float> w(row);
        for (int64_t i = 0; i < row; ++i) {
          const int64_t flat = m * row + i;
          const uint8_t* data = input.data.data();
          w[i] = *dtype == DType::kF32   ? LoadF32(data, flat)
                 : *dtype == DType::kF16 ? F16BitsToFloat(LoadU16(data, flat))
                                         : Bf16BitsToFloat(LoadU16(data, flat));
        }
        const float lo = *std::min_element(w.begin(), w.end());
        const float hi = *std::max_element(w.begin(), w.end());
        const float c = (lo + hi) / 2.0f;
        const int8_t sign = c > 0 ? 1 : (c < 0 ? -1 : 0);
        EXPECT_EQ(layer->zero_point[m], 0) << "channel " << m;
        EXPECT_EQ(layer->scale[m], c == 0 ? 1.0f : std::fabs(c)) << "channel " << m;
        for (int64_t i = 0; i < row; ++i) {
          ASSERT_EQ(q[i], sign) << "degenerate channel " << m << " element " << i;
        }
        ++degenerate;
        continue;
      }
      EXPECT_LE(UlpDistance(layer->scale[m], 1.0f / reference_s[m]), 1)
          << "channel " << m;
      EXPECT_EQ(layer->zero_point[m], -static_cast<int32_t>(reference_z[m]))
          << "channel " << m;
      for (int64_t i = 0; i < row; ++i) {
        ASSERT_EQ(q[i], expected_q[m * row + i])
            << "channel " << m << " element " << i << " (flat "
            << m * row + i << "), threads " << threads;
      }
    }
    EXPECT_EQ(layer->stats.degenerate_channels, degenerate);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GoldenTest, ::testing::ValuesIn(GoldenFiles()),
    [](const ::testing::TestParamInfo<std::string>& info) {
      return info.param.substr(0, info.param.find('_'));
    });

}  // namespace
}  // namespace squant
