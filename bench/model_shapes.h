// Weight shapes of every conv and fc layer (biases and batch norms left out)
// of the networks of the SQuant paper's Table 3 and of Llama-2-7B, in each
// implementation's parameter order and with its parameter names, for
// benchmarks that need realistic layer mixes. [out, in/groups, kh, kw] for
// convs, [out, in] for fc. Layer and weight counts are checked in
// tools/modelbench/model_shapes_test.cc, which says where each comes from.

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

// torchvision's InceptionV3 blocks (torchvision/models/inception.py). Every
// conv is a BasicConv2d, whose weight is "<name>.conv.weight".
class InceptionBuilder {
 public:
  explicit InceptionBuilder(ModelShapes& model) : model_(model) {}

  void Conv(const std::string& name, int64_t in, int64_t out, int64_t kh,
            int64_t kw) {
    model_.layers.push_back({name + ".conv.weight", {out, in, kh, kw}});
  }

  // Output channels: 224 + pool_features.
  void A(const std::string& block, int64_t in, int64_t pool_features) {
    Conv(block + ".branch1x1", in, 64, 1, 1);
    Conv(block + ".branch5x5_1", in, 48, 1, 1);
    Conv(block + ".branch5x5_2", 48, 64, 5, 5);
    Conv(block + ".branch3x3dbl_1", in, 64, 1, 1);
    Conv(block + ".branch3x3dbl_2", 64, 96, 3, 3);
    Conv(block + ".branch3x3dbl_3", 96, 96, 3, 3);
    Conv(block + ".branch_pool", in, pool_features, 1, 1);
  }

  // Output channels: 480 + in.
  void B(const std::string& block, int64_t in) {
    Conv(block + ".branch3x3", in, 384, 3, 3);
    Conv(block + ".branch3x3dbl_1", in, 64, 1, 1);
    Conv(block + ".branch3x3dbl_2", 64, 96, 3, 3);
    Conv(block + ".branch3x3dbl_3", 96, 96, 3, 3);
  }

  // Output channels: 768.
  void C(const std::string& block, int64_t in, int64_t c7) {
    Conv(block + ".branch1x1", in, 192, 1, 1);
    Conv(block + ".branch7x7_1", in, c7, 1, 1);
    Conv(block + ".branch7x7_2", c7, c7, 1, 7);
    Conv(block + ".branch7x7_3", c7, 192, 7, 1);
    Conv(block + ".branch7x7dbl_1", in, c7, 1, 1);
    Conv(block + ".branch7x7dbl_2", c7, c7, 7, 1);
    Conv(block + ".branch7x7dbl_3", c7, c7, 1, 7);
    Conv(block + ".branch7x7dbl_4", c7, c7, 7, 1);
    Conv(block + ".branch7x7dbl_5", c7, 192, 1, 7);
    Conv(block + ".branch_pool", in, 192, 1, 1);
  }

  // Output channels: 512 + in.
  void D(const std::string& block, int64_t in) {
    Conv(block + ".branch3x3_1", in, 192, 1, 1);
    Conv(block + ".branch3x3_2", 192, 320, 3, 3);
    Conv(block + ".branch7x7x3_1", in, 192, 1, 1);
    Conv(block + ".branch7x7x3_2", 192, 192, 1, 7);
    Conv(block + ".branch7x7x3_3", 192, 192, 7, 1);
    Conv(block + ".branch7x7x3_4", 192, 192, 3, 3);
  }

  // Output channels: 2048.
  void E(const std::string& block, int64_t in) {
    Conv(block + ".branch1x1", in, 320, 1, 1);
    Conv(block + ".branch3x3_1", in, 384, 1, 1);
    Conv(block + ".branch3x3_2a", 384, 384, 1, 3);
    Conv(block + ".branch3x3_2b", 384, 384, 3, 1);
    Conv(block + ".branch3x3dbl_1", in, 448, 1, 1);
    Conv(block + ".branch3x3dbl_2", 448, 384, 3, 3);
    Conv(block + ".branch3x3dbl_3a", 384, 384, 1, 3);
    Conv(block + ".branch3x3dbl_3b", 384, 384, 3, 1);
    Conv(block + ".branch_pool", in, 192, 1, 1);
  }

 private:
  ModelShapes& model_;
};

// pytorchcv's SqnxtUnit (pytorchcv/models/sqnext.py): a 1x1 squeeze, a
// second 1x1 squeeze, 1x3 and 3x1 convs, a 1x1 expand, and a 1x1 identity
// conv when the unit strides or narrows. Every conv is a ConvBlock
// ("<name>.conv.weight").
inline void SqueezeNextUnit(ModelShapes& model, const std::string& unit,
                            int64_t in, int64_t out, bool stride2) {
  const int64_t reduction = stride2 ? 1 : (in > out ? 4 : 2);
  const int64_t squeezed = in / reduction;
  const int64_t bottleneck = in / (2 * reduction);
  auto add = [&](const std::string& part, std::vector<int64_t> shape) {
    model.layers.push_back({unit + "." + part + ".conv.weight", shape});
  };
  add("conv1", {squeezed, in, 1, 1});
  add("conv2", {bottleneck, squeezed, 1, 1});
  add("conv3", {squeezed, bottleneck, 1, 3});
  add("conv4", {squeezed, squeezed, 3, 1});
  add("conv5", {out, squeezed, 1, 1});
  if (stride2 || in > out) add("identity_conv", {out, in, 1, 1});
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

// torchvision's inception_v3 without the auxiliary classifier (its weights
// are not part of the inference model). 95 layers, 23.82 M weights.
inline ModelShapes InceptionV3() {
  ModelShapes model{"inception_v3", {}};
  internal::InceptionBuilder b(model);
  b.Conv("Conv2d_1a_3x3", 3, 32, 3, 3);
  b.Conv("Conv2d_2a_3x3", 32, 32, 3, 3);
  b.Conv("Conv2d_2b_3x3", 32, 64, 3, 3);
  b.Conv("Conv2d_3b_1x1", 64, 80, 1, 1);
  b.Conv("Conv2d_4a_3x3", 80, 192, 3, 3);
  b.A("Mixed_5b", 192, 32);
  b.A("Mixed_5c", 256, 64);
  b.A("Mixed_5d", 288, 64);
  b.B("Mixed_6a", 288);
  b.C("Mixed_6b", 768, 128);
  b.C("Mixed_6c", 768, 160);
  b.C("Mixed_6d", 768, 160);
  b.C("Mixed_6e", 768, 192);
  b.D("Mixed_7a", 768);
  b.E("Mixed_7b", 1280);
  b.E("Mixed_7c", 2048);
  model.layers.push_back({"fc.weight", {1000, 2048}});
  return model;
}

// pytorchcv's sqnxt23_w2 (SqueezeNext-23, width x2): init block 128,
// stages of [6, 6, 8, 1] units of [64, 128, 256, 512] channels, the first
// unit of stages 2-4 with stride 2, a final 1x1 block of 256. 112 layers,
// 2.55 M weights.
inline ModelShapes SqueezeNext23W2() {
  ModelShapes model{"sqnxt23_w2",
                    {{"features.init_block.conv.conv.weight", {128, 3, 7, 7}}}};
  const int units[4] = {6, 6, 8, 1};
  int64_t in = 128;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t out = int64_t{64} << stage;
    for (int unit = 0; unit < units[stage]; ++unit) {
      internal::SqueezeNextUnit(model,
                                "features.stage" + std::to_string(stage + 1) +
                                    ".unit" + std::to_string(unit + 1),
                                in, out, /*stride2=*/unit == 0 && stage > 0);
      in = out;
    }
  }
  model.layers.push_back({"features.final_block.conv.weight", {256, in, 1, 1}});
  model.layers.push_back({"output.weight", {1000, 256}});
  return model;
}

// pytorchcv's shufflenet_g1_w1 (pytorchcv/models/shufflenet.py): a 3x3
// init conv of 24, stages of [4, 8, 4] units of [144, 288, 576] channels.
// A unit is a 1x1 compress to out/4, a depthwise 3x3 and a 1x1 expand; the
// first unit of a stage downsamples and concatenates its input, so it
// expands to out - in. With one group every conv but the depthwise is
// dense. 50 layers, 1.52 M weights.
inline ModelShapes ShuffleNetG1W1() {
  ModelShapes model{"shufflenet_g1_w1",
                    {{"features.init_block.conv.weight", {24, 3, 3, 3}}}};
  const int units[3] = {4, 8, 4};
  int64_t in = 24;
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t out = int64_t{144} << stage;
    const int64_t mid = out / 4;
    for (int unit = 0; unit < units[stage]; ++unit) {
      const std::string name = "features.stage" + std::to_string(stage + 1) +
                               ".unit" + std::to_string(unit + 1) + ".";
      const int64_t expanded = unit == 0 ? out - in : out;
      model.layers.push_back({name + "compress_conv1.weight", {mid, in, 1, 1}});
      model.layers.push_back({name + "dw_conv2.weight", {mid, 1, 3, 3}});
      model.layers.push_back(
          {name + "expand_conv3.weight", {expanded, mid, 1, 1}});
      in = out;
    }
  }
  model.layers.push_back({"output.weight", {1000, in}});
  return model;
}

// The five networks of the SQuant paper's Table 3, in its order.
inline std::vector<ModelShapes> Table3Models() {
  return {ResNet18(), ResNet50(), InceptionV3(), SqueezeNext23W2(),
          ShuffleNetG1W1()};
}

// Llama-2-7B's weight matrices (Hugging Face names and [out, in] shapes):
// the token embeddings, 32 decoder blocks of attention q/k/v/o [4096, 4096]
// and MLP gate/up [11008, 4096], down [4096, 11008], and the output head.
// Norm weights (vectors) left out. 226 layers, 6.74 G weights.
inline ModelShapes Llama2_7B() {
  constexpr int64_t kHidden = 4096, kIntermediate = 11008, kVocab = 32000;
  ModelShapes model{"llama2-7b",
                    {{"model.embed_tokens.weight", {kVocab, kHidden}}}};
  for (int block = 0; block < 32; ++block) {
    const std::string prefix = "model.layers." + std::to_string(block) + ".";
    for (const char* projection : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      model.layers.push_back(
          {prefix + "self_attn." + projection + ".weight", {kHidden, kHidden}});
    }
    model.layers.push_back(
        {prefix + "mlp.gate_proj.weight", {kIntermediate, kHidden}});
    model.layers.push_back(
        {prefix + "mlp.up_proj.weight", {kIntermediate, kHidden}});
    model.layers.push_back(
        {prefix + "mlp.down_proj.weight", {kHidden, kIntermediate}});
  }
  model.layers.push_back({"lm_head.weight", {kVocab, kHidden}});
  return model;
}

}  // namespace squant::bench

#endif  // SQUANT_BENCH_MODEL_SHAPES_H_
