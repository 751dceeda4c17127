#include "tools/modelbench/verifying_sink.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace squant::modelbench {

ExpectedLayer Expect(const QuantizedLayer& layer) {
  return {static_cast<uint32_t>(layer.options.bits),
          PackInt4(layer.values, layer.geometry), layer.scale,
          layer.zero_point};
}

absl::StatusOr<ExpectedLayer> ExpectFromCore(const WeightTensor& tensor,
                                             const QuantOptions& options,
                                             int threads) {
  absl::StatusOr<QuantizedLayer> layer = Quantize(tensor, options, threads);
  if (!layer.ok()) return layer.status();
  return Expect(*layer);
}

absl::Status VerifyingSink::Mismatch(size_t layer,
                                     absl::string_view what) const {
  return absl::DataLossError(
      absl::StrCat("layer ", layer, " '", model_.layers[layer].name,
                   "': ", what, " differ from squant::Quantize in process"));
}

absl::Status VerifyingSink::OnResult(size_t layer,
                                     const v1::LayerResult& result) {
  auto it = expected_.find(layer);
  if (it == expected_.end()) return absl::OkStatus();
  const ExpectedLayer& expected = it->second;
  if (!result.packed() || result.bits() != expected.bits ||
      result.values_bytes() != expected.packed_values.size()) {
    return Mismatch(layer, "bits, packing or value bytes");
  }
  if (static_cast<size_t>(result.scale_size()) != expected.scale.size() ||
      std::memcmp(result.scale().data(), expected.scale.data(),
                  expected.scale.size() * sizeof(float)) != 0) {
    return Mismatch(layer, "scales");
  }
  if (static_cast<size_t>(result.zero_point_size()) !=
          expected.zero_point.size() ||
      !std::equal(result.zero_point().begin(), result.zero_point().end(),
                  expected.zero_point.begin())) {
    return Mismatch(layer, "zero points");
  }
  ++verified_layers_;
  return absl::OkStatus();
}

absl::Status VerifyingSink::OnValues(size_t layer, uint64_t offset,
                                     absl::string_view data) {
  auto it = expected_.find(layer);
  if (it != expected_.end() &&
      std::memcmp(it->second.packed_values.data() + offset, data.data(),
                  data.size()) != 0) {
    return Mismatch(layer, absl::StrCat("values at bytes ", offset, "+"));
  }
  // Words at absolute offsets: chunk boundaries are multiples of 8 in
  // practice, and when not, the sum is still the same on equal runs.
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, data.data() + i, 8);
    checksum_ += word * (2 * (offset + i) + 1);
  }
  for (; i < data.size(); ++i) {
    checksum_ += static_cast<uint8_t>(data[i]) * (2 * (offset + i) + 1);
  }
  return absl::OkStatus();
}

}  // namespace squant::modelbench
