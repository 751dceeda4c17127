// A ResultSink that checks results against the core library run in
// process on the same weights (for the layers it has expected results of)
// and folds every value byte into a checksum.

#ifndef SQUANT_TOOLS_MODELBENCH_VERIFYING_SINK_H_
#define SQUANT_TOOLS_MODELBENCH_VERIFYING_SINK_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/model_shapes.h"
#include "core/squant.h"
#include "tools/modelbench/model_stream.h"

namespace squant::modelbench {

// What the server must send for one layer, packed.
struct ExpectedLayer {
  uint32_t bits = 0;
  std::vector<uint8_t> packed_values;
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
};

ExpectedLayer Expect(const QuantizedLayer& layer);

// Quantizes `tensor` in process with `threads` threads and packs it.
absl::StatusOr<ExpectedLayer> ExpectFromCore(const WeightTensor& tensor,
                                             const QuantOptions& options,
                                             int threads);

class VerifyingSink : public ResultSink {
 public:
  // `expected` by layer index; layers without an entry are only checksummed.
  VerifyingSink(const bench::ModelShapes& model,
                const std::map<size_t, ExpectedLayer>& expected)
      : model_(model), expected_(expected) {}

  absl::Status OnResult(size_t layer, const v1::LayerResult& result) override;
  absl::Status OnValues(size_t layer, uint64_t offset,
                        absl::string_view data) override;

  // Sum of the value bytes as little-endian 64-bit words at their offsets
  // (order of arrival does not matter): equal runs give equal sums.
  uint64_t checksum() const { return checksum_; }
  int64_t verified_layers() const { return verified_layers_; }

 private:
  absl::Status Mismatch(size_t layer, absl::string_view what) const;

  const bench::ModelShapes& model_;
  const std::map<size_t, ExpectedLayer>& expected_;
  uint64_t checksum_ = 0;
  int64_t verified_layers_ = 0;
};

}  // namespace squant::modelbench

#endif  // SQUANT_TOOLS_MODELBENCH_VERIFYING_SINK_H_
