#include "tests/cli/golden_cases.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "safetensors/safetensors.h"
#include "tests/cli/test_models.h"

namespace squant::testing {

std::vector<GoldenCase> GoldenCases() {
  std::vector<GoldenCase> cases;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(SQUANT_GOLDEN_DIR, error)) {
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, "case") ||
        !absl::EndsWith(name, ".safetensors")) {
      continue;
    }
    absl::StatusOr<safetensors::MappedFile> file =
        safetensors::MappedFile::Open(entry.path().string());
    // An unreadable case stays in the list with no bits, for the test to
    // report rather than skip.
    const auto meta = [&](const char* key) -> std::string {
      if (!file.ok() || !file->metadata().contains(key)) return "";
      return file->metadata().at(key);
    };
    cases.push_back({entry.path().string(), meta("bits"), meta("mode")});
  }
  std::sort(
      cases.begin(), cases.end(),
      [](const GoldenCase& a, const GoldenCase& b) { return a.path < b.path; });
  return cases;
}

absl::Status WriteGoldenInput(const GoldenCase& golden,
                              const std::string& path) {
  absl::StatusOr<safetensors::MappedFile> file =
      safetensors::MappedFile::Open(golden.path);
  if (!file.ok()) return file.status();
  const safetensors::TensorInfo* weight = file->Find("weight");
  if (weight == nullptr)
    return absl::NotFoundError(golden.path + ": no weight");
  const absl::Span<const uint8_t> data = file->Data(*weight);
  return WriteModel(path, {{"weight", weight->dtype, weight->shape,
                            std::vector<uint8_t>(data.begin(), data.end())}});
}

absl::Status CheckAgainstGolden(const GoldenCase& golden,
                                const std::string& output_path) {
  absl::StatusOr<safetensors::MappedFile> reference =
      safetensors::MappedFile::Open(golden.path);
  if (!reference.ok()) return reference.status();
  absl::StatusOr<safetensors::MappedFile> output =
      safetensors::MappedFile::Open(output_path);
  if (!output.ok()) return output.status();

  const std::vector<float> weight = FloatValues(*reference, "weight");
  const std::vector<int8_t> expected_q =
      reference->Find("q_stable") ? Values<int8_t>(*reference, "q_stable")
                                  : Values<int8_t>(*reference, "q");
  const std::vector<float> s = Values<float>(*reference, "scale");
  const std::vector<float> z = Values<float>(*reference, "zero_point");
  const std::vector<int8_t> q = Values<int8_t>(*output, "weight.qweight");
  const std::vector<float> scale = Values<float>(*output, "weight.scale");
  const std::vector<int32_t> zero_point =
      Values<int32_t>(*output, "weight.zero_point");
  const size_t channels = s.size();
  if (q.size() != expected_q.size() || scale.size() != channels ||
      zero_point.size() != channels || channels == 0) {
    return absl::InternalError(
        absl::StrCat(output_path, ": wrong tensor sizes"));
  }
  const size_t row = q.size() / channels;
  for (size_t m = 0; m < channels; ++m) {
    const auto where = [&](absl::string_view what) {
      return absl::InternalError(
          absl::StrCat(golden.path, " channel ", m, ": ", what));
    };
    if (std::fabs(z[m]) >= 16777216.0f) {
      const auto [lo, hi] = std::minmax_element(weight.begin() + m * row,
                                                weight.begin() + (m + 1) * row);
      const float c = (*lo + *hi) / 2;
      const int8_t sign = c > 0 ? 1 : c < 0 ? -1 : 0;
      for (size_t i = m * row; i < (m + 1) * row; ++i) {
        if (q[i] != sign) return where(absl::StrCat("degenerate q ", q[i]));
      }
      if (zero_point[m] != 0 || scale[m] != (c == 0 ? 1.0f : std::fabs(c))) {
        return where(absl::StrCat("degenerate scale ", scale[m], " zero_point ",
                                  zero_point[m], ", c = ", c));
      }
      continue;
    }
    for (size_t i = m * row; i < (m + 1) * row; ++i) {
      if (q[i] != expected_q[i]) {
        return where(absl::StrCat("element ", i, ": q ", q[i], ", golden ",
                                  expected_q[i]));
      }
    }
    if (zero_point[m] != static_cast<int32_t>(-z[m])) {
      return where(
          absl::StrCat("zero_point ", zero_point[m], ", golden -z ", -z[m]));
    }
    const float inverse = 1.0f / s[m];
    if (scale[m] != inverse && scale[m] != std::nextafter(inverse, 0.0f) &&
        scale[m] != std::nextafter(inverse, 2 * inverse)) {
      return where(absl::StrCat("scale ", scale[m], ", golden 1/s ", inverse));
    }
  }
  return absl::OkStatus();
}

}  // namespace squant::testing
