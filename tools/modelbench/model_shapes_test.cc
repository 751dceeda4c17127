// Checks bench/model_shapes.h against each implementation's own parameter
// count: the header lists conv and fc weights only, so the test adds what
// it leaves out (batch norms, biases, norm vectors) and must land exactly
// on the published totals. Sources:
// - torchvision 0.14.1 (Debian python3-torchvision): resnet18 11,689,512,
//   resnet50 25,557,032 (also its docs), inception_v3(aux_logits=False)
//   23,834,568 (counted; the docs' 27,161,264 includes the aux
//   classifier). Their named_parameters() of rank >= 2 were also compared
//   with the header: same names, order and shapes.
// - pytorchcv (osmr/imgclsmob pytorch/pytorchcv/models/sqnext.py and
//   shufflenet.py): their _test() asserts sqnxt23_w2 2,583,752 and
//   shufflenet_g1_w1 1,531,936 trainable parameters.
// - Llama-2-7B: 6,738,415,616 parameters (Hugging Face
//   meta-llama/Llama-2-7b-hf), of which 65 RMSNorm vectors of 4096.

#include "bench/model_shapes.h"

#include <cstdint>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace squant::bench {
namespace {

// Every conv followed by a batch norm (2 parameters per channel), with a
// bias or not; the fc (the only rank-2 weight) with a bias.
int64_t CnnParameters(const ModelShapes& model, bool conv_bias) {
  int64_t parameters = 0;
  for (const LayerShape& layer : model.layers) {
    const int64_t channels = layer.shape[0];
    parameters += layer.elements();
    if (layer.shape.size() == 2) {
      parameters += channels;
    } else {
      parameters += channels * (conv_bias ? 3 : 2);
    }
  }
  return parameters;
}

struct Expected {
  ModelShapes model;
  size_t layers;
  int64_t weights;
  int64_t published_parameters;
  bool conv_bias;
};

TEST(ModelShapesTest, Table3ModelsMatchTheirImplementationsCounts) {
  const Expected cases[] = {
      {ResNet18(), 21, 11'678'912, 11'689'512, false},
      {ResNet50(), 54, 25'502'912, 25'557'032, false},
      {InceptionV3(), 95, 23'799'136, 23'834'568, false},
      {SqueezeNext23W2(), 112, 2'548'096, 2'583'752, true},
      {ShuffleNetG1W1(), 50, 1'516'248, 1'531'936, false},
  };
  for (const Expected& expected : cases) {
    SCOPED_TRACE(expected.model.name);
    EXPECT_EQ(expected.model.layers.size(), expected.layers);
    EXPECT_EQ(expected.model.elements(), expected.weights);
    EXPECT_EQ(CnnParameters(expected.model, expected.conv_bias),
              expected.published_parameters);
  }
}

TEST(ModelShapesTest, Table3ModelsInThePapersOrder) {
  std::vector<std::string> names;
  for (const ModelShapes& model : Table3Models()) names.push_back(model.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"resnet18", "resnet50", "inception_v3",
                                      "sqnxt23_w2", "shufflenet_g1_w1"}));
}

TEST(ModelShapesTest, Llama2_7BMatchesItsParameterCount) {
  const ModelShapes llama = Llama2_7B();
  EXPECT_EQ(llama.layers.size(), 226u);
  EXPECT_EQ(llama.elements() + 65 * 4096, 6'738'415'616);
  EXPECT_EQ(llama.layers.back().shape, (std::vector<int64_t>{32000, 4096}));
}

TEST(ModelShapesTest, LayerNamesAreUniqueAndShapesValid) {
  std::vector<ModelShapes> models = Table3Models();
  models.push_back(Llama2_7B());
  for (const ModelShapes& model : models) {
    std::set<std::string> names;
    for (const LayerShape& layer : model.layers) {
      EXPECT_TRUE(names.insert(layer.name).second)
          << model.name << ": " << layer.name;
      EXPECT_GE(layer.shape.size(), 2u) << layer.name;
      for (int64_t dim : layer.shape) EXPECT_GE(dim, 1) << layer.name;
    }
  }
}

}  // namespace
}  // namespace squant::bench
