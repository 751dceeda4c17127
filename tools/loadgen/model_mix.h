// The models squant-loadgen sends: named layer-shape lists with random
// weights made once and shared by every stream, and the weighted mix a
// stream picks its next model from.

#ifndef SQUANT_TOOLS_LOADGEN_MODEL_MIX_H_
#define SQUANT_TOOLS_LOADGEN_MODEL_MIX_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace squant::loadgen {

struct LoadLayer {
  std::string name;
  std::vector<int64_t> shape;
  std::string bytes;  // F32, little-endian
};

struct LoadModel {
  std::string name;
  std::vector<LoadLayer> layers;
  int64_t input_bytes() const;
};

// "small" (four tiny conv/linear layers, 21k weights), "resnet18",
// "resnet50" (bench/model_shapes.h).
absl::StatusOr<LoadModel> MakeModel(absl::string_view name, uint32_t seed);

class ModelMix {
 public:
  // "small=3,resnet50=1": models and their relative weights (an omitted
  // weight is 1).
  static absl::StatusOr<ModelMix> Parse(absl::string_view spec, uint32_t seed);

  const std::vector<LoadModel>& models() const { return models_; }
  // Index into models(), drawn by weight.
  int Pick(std::mt19937& rng) const;

 private:
  std::vector<LoadModel> models_;
  std::vector<double> weights_;
};

}  // namespace squant::loadgen

#endif  // SQUANT_TOOLS_LOADGEN_MODEL_MIX_H_
