#include "tools/loadgen/model_mix.h"

#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/model_shapes.h"

namespace squant::loadgen {
namespace {

bench::ModelShapes SmallShapes() {
  return {"small",
          {{"conv1.weight", {16, 3, 3, 3}},
           {"conv2.weight", {32, 16, 3, 3}},
           {"conv3.weight", {32, 32, 3, 3}},
           {"fc.weight", {10, 512}}}};
}

// Weights like a trained layer's: normal, std 0.05.
std::string RandomF32(int64_t elements, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::string bytes(elements * sizeof(float), '\0');
  for (int64_t i = 0; i < elements; ++i) {
    const float value = normal(rng);
    std::memcpy(bytes.data() + i * sizeof(float), &value, sizeof(float));
  }
  return bytes;
}

}  // namespace

int64_t LoadModel::input_bytes() const {
  int64_t bytes = 0;
  for (const LoadLayer& layer : layers) bytes += layer.bytes.size();
  return bytes;
}

absl::StatusOr<LoadModel> MakeModel(absl::string_view name, uint32_t seed) {
  bench::ModelShapes shapes;
  if (name == "small") {
    shapes = SmallShapes();
  } else if (name == "resnet18") {
    shapes = bench::ResNet18();
  } else if (name == "resnet50") {
    shapes = bench::ResNet50();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown model \"", name, "\" (small, resnet18, resnet50)"));
  }
  std::mt19937 rng(seed);
  LoadModel model{std::string(name), {}};
  for (const bench::LayerShape& layer : shapes.layers) {
    model.layers.push_back(
        {layer.name, layer.shape, RandomF32(layer.elements(), rng)});
  }
  return model;
}

absl::StatusOr<ModelMix> ModelMix::Parse(absl::string_view spec,
                                         uint32_t seed) {
  ModelMix mix;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(entry, absl::MaxSplits('=', 1));
    double weight = 1;
    if (!parts.second.empty() &&
        (!absl::SimpleAtod(parts.second, &weight) || weight <= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--mix: bad weight in \"", entry, "\""));
    }
    absl::StatusOr<LoadModel> model = MakeModel(parts.first, seed++);
    if (!model.ok()) return model.status();
    mix.models_.push_back(*std::move(model));
    mix.weights_.push_back(weight);
  }
  if (mix.models_.empty()) {
    return absl::InvalidArgumentError("--mix names no model");
  }
  return mix;
}

int ModelMix::Pick(std::mt19937& rng) const {
  std::discrete_distribution<int> pick(weights_.begin(), weights_.end());
  return pick(rng);
}

}  // namespace squant::loadgen
