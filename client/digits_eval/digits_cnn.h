// The sample model of samples/train_sample.py run in plain C++, so that the
// demo can show what quantization does to accuracy without torch:
//   conv1 1->16 3x3 pad 1, ReLU, conv2 16->32 3x3 pad 1, ReLU, max-pool 2x2,
//   fc1 512->64, ReLU, fc2 64->10.

#ifndef SQUANT_CLIENT_DIGITS_EVAL_DIGITS_CNN_H_
#define SQUANT_CLIENT_DIGITS_EVAL_DIGITS_CNN_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace squant::digits {

inline constexpr int kImageSide = 8;
inline constexpr int kClasses = 10;

struct DigitsCnn {
  std::vector<float> conv1_weight, conv1_bias;  // [16,1,3,3], [16]
  std::vector<float> conv2_weight, conv2_bias;  // [32,16,3,3], [32]
  std::vector<float> fc1_weight, fc1_bias;      // [64,512], [64]
  std::vector<float> fc2_weight, fc2_bias;      // [10,64], [10]

  // Loads float weights, or fake-quantized ones from squant-cli's schema.
  static absl::StatusOr<DigitsCnn> Load(const std::string& path);

  // The class scores of one 8x8 image.
  std::array<float, kClasses> Forward(absl::Span<const float> image) const;
};

struct EvalSet {
  std::vector<float> images;  // [n, 1, 8, 8]
  std::vector<int32_t> labels;
  size_t size() const { return labels.size(); }
};

absl::StatusOr<EvalSet> LoadEvalSet(const std::string& path);

// The class scores of every image of `set`.
std::vector<std::array<float, kClasses>> Scores(const DigitsCnn& model,
                                                const EvalSet& set);

// Fraction of `set` whose highest score is its label.
double Accuracy(absl::Span<const std::array<float, kClasses>> scores,
                const EvalSet& set);

// Mean squared difference of two models' scores: how far quantization
// moved the network's output, which SQuant's error compensation targets.
double ScoreError(absl::Span<const std::array<float, kClasses>> scores,
                  absl::Span<const std::array<float, kClasses>> reference);

}  // namespace squant::digits

#endif  // SQUANT_CLIENT_DIGITS_EVAL_DIGITS_CNN_H_
