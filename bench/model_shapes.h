// Weight shapes of every conv and fc layer of torchvision models, in
// torchvision's parameter order, for benchmarks that need realistic layer
// mixes. [out, in, kh, kw] for convs, [out, in] for fc.

#ifndef SQUANT_BENCH_MODEL_SHAPES_H_
#define SQUANT_BENCH_MODEL_SHAPES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace squant::bench {

struct LayerShape {
  std::string name;
  std::vector<int64_t> shape;

  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

struct ModelShapes {
  std::string name;
  std::vector<LayerShape> layers;

  int64_t elements() const {
    int64_t n = 0;
    for (const LayerShape& layer : layers) n += layer.elements();
    return n;
  }
};

namespace internal {

inline std::string LayerName(int stage, int block, const std::string& part) {
  return "layer" + std::to_string(stage) + "." + std::to_string(block) + "." +
         part + ".weight";
}

// ResNet with BasicBlocks (two 3x3 convs) or Bottlenecks (1x1, 3x3, 1x1
// with expansion 4); the first block of stages 2-4 (and of stage 1 for
// bottlenecks) has a 1x1 downsample.
inline ModelShapes ResNet(const std::string& name, const int (&blocks)[4],
                          bool bottleneck) {
  ModelShapes model{name, {{"conv1.weight", {64, 3, 7, 7}}}};
  const int expansion = bottleneck ? 4 : 1;
  int64_t in = 64;
  for (int stage = 1; stage <= 4; ++stage) {
    const int64_t planes = int64_t{64} << (stage - 1);
    const int64_t out = planes * expansion;
    for (int block = 0; block < blocks[stage - 1]; ++block) {
      auto add = [&](const std::string& part, std::vector<int64_t> shape) {
        model.layers.push_back({LayerName(stage, block, part), shape});
      };
      if (bottleneck) {
        add("conv1", {planes, in, 1, 1});
        add("conv2", {planes, planes, 3, 3});
        add("conv3", {out, planes, 1, 1});
      } else {
        add("conv1", {planes, in, 3, 3});
        add("conv2", {planes, planes, 3, 3});
      }
      if (block == 0 && in != out) add("downsample.0", {out, in, 1, 1});
      in = out;
    }
  }
  model.layers.push_back({"fc.weight", {1000, in}});
  return model;
}

}  // namespace internal

// 21 layers, 11.68 M weights.
inline ModelShapes ResNet18() {
  return internal::ResNet("resnet18", {2, 2, 2, 2}, /*bottleneck=*/false);
}

// 54 layers, 25.50 M weights.
inline ModelShapes ResNet50() {
  return internal::ResNet("resnet50", {3, 4, 6, 3}, /*bottleneck=*/true);
}

}  // namespace squant::bench

#endif  // SQUANT_BENCH_MODEL_SHAPES_H_
