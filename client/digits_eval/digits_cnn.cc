#include "client/digits_eval/digits_cnn.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli/float_tensors.h"
#include "client/cli/quantized_format.h"
#include "safetensors/safetensors.h"

namespace squant::digits {
namespace {

constexpr int kConv1Channels = 16;
constexpr int kConv2Channels = 32;
constexpr int kPooledSide = kImageSide / 2;
constexpr int kFc1Inputs = kConv2Channels * kPooledSide * kPooledSide;
constexpr int kFc1Outputs = 64;

// conv 3x3, stride 1, zero padding 1, then ReLU: [in, 8, 8] -> [out, 8, 8].
std::vector<float> Conv3x3Relu(absl::Span<const float> input, int in_channels,
                               const std::vector<float>& weight,
                               const std::vector<float>& bias,
                               int out_channels) {
  constexpr int kSide = kImageSide;
  std::vector<float> output(out_channels * kSide * kSide);
  for (int o = 0; o < out_channels; ++o) {
    for (int y = 0; y < kSide; ++y) {
      for (int x = 0; x < kSide; ++x) {
        float sum = bias[o];
        for (int i = 0; i < in_channels; ++i) {
          for (int dy = -1; dy <= 1; ++dy) {
            for (int dx = -1; dx <= 1; ++dx) {
              const int sy = y + dy, sx = x + dx;
              if (sy < 0 || sy >= kSide || sx < 0 || sx >= kSide) continue;
              sum += weight[((o * in_channels + i) * 3 + dy + 1) * 3 + dx + 1] *
                     input[(i * kSide + sy) * kSide + sx];
            }
          }
        }
        output[(o * kSide + y) * kSide + x] = std::max(sum, 0.0f);
      }
    }
  }
  return output;
}

std::vector<float> Linear(absl::Span<const float> input,
                          const std::vector<float>& weight,
                          const std::vector<float>& bias, bool relu) {
  const size_t outputs = bias.size();
  std::vector<float> output(outputs);
  for (size_t o = 0; o < outputs; ++o) {
    float sum = bias[o];
    for (size_t i = 0; i < input.size(); ++i) {
      sum += weight[o * input.size() + i] * input[i];
    }
    output[o] = relu ? std::max(sum, 0.0f) : sum;
  }
  return output;
}

absl::Status Take(
    const safetensors::MappedFile& file,
    const std::map<std::string, cli::QuantizedTensorRecord>& records,
    const std::string& name, const std::vector<int64_t>& shape,
    std::vector<float>& target) {
  absl::StatusOr<cli::FloatTensor> tensor =
      cli::LoadFloatTensor(file, records, name);
  if (!tensor.ok()) return tensor.status();
  if (tensor->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' has shape [", absl::StrJoin(tensor->shape, ","),
        "], the sample CNN needs [", absl::StrJoin(shape, ","), "]"));
  }
  target = std::move(tensor->values);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DigitsCnn> DigitsCnn::Load(const std::string& path) {
  absl::StatusOr<safetensors::MappedFile> file =
      safetensors::MappedFile::Open(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<std::map<std::string, cli::QuantizedTensorRecord>> records =
      cli::ReadRecords(file->metadata());
  if (!records.ok()) return records.status();
  DigitsCnn model;
  const struct {
    const char* name;
    std::vector<int64_t> shape;
    std::vector<float>* target;
  } parts[] = {
      {"conv1.weight", {kConv1Channels, 1, 3, 3}, &model.conv1_weight},
      {"conv1.bias", {kConv1Channels}, &model.conv1_bias},
      {"conv2.weight",
       {kConv2Channels, kConv1Channels, 3, 3},
       &model.conv2_weight},
      {"conv2.bias", {kConv2Channels}, &model.conv2_bias},
      {"fc1.weight", {kFc1Outputs, kFc1Inputs}, &model.fc1_weight},
      {"fc1.bias", {kFc1Outputs}, &model.fc1_bias},
      {"fc2.weight", {kClasses, kFc1Outputs}, &model.fc2_weight},
      {"fc2.bias", {kClasses}, &model.fc2_bias},
  };
  for (const auto& part : parts) {
    if (absl::Status status =
            Take(*file, *records, part.name, part.shape, *part.target);
        !status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat(path, ": ", status.message()));
    }
  }
  return model;
}

std::array<float, kClasses> DigitsCnn::Forward(
    absl::Span<const float> image) const {
  const std::vector<float> a =
      Conv3x3Relu(image, 1, conv1_weight, conv1_bias, kConv1Channels);
  const std::vector<float> b =
      Conv3x3Relu(a, kConv1Channels, conv2_weight, conv2_bias, kConv2Channels);
  // 2x2 max-pool; C order [32, 4, 4] is what torch's flatten feeds fc1.
  std::vector<float> pooled(kFc1Inputs);
  for (int c = 0; c < kConv2Channels; ++c) {
    for (int y = 0; y < kPooledSide; ++y) {
      for (int x = 0; x < kPooledSide; ++x) {
        float best = b[(c * kImageSide + 2 * y) * kImageSide + 2 * x];
        for (int d = 1; d < 4; ++d) {
          best = std::max(
              best,
              b[(c * kImageSide + 2 * y + d / 2) * kImageSide + 2 * x + d % 2]);
        }
        pooled[(c * kPooledSide + y) * kPooledSide + x] = best;
      }
    }
  }
  const std::vector<float> hidden = Linear(pooled, fc1_weight, fc1_bias, true);
  const std::vector<float> scores = Linear(hidden, fc2_weight, fc2_bias, false);
  std::array<float, kClasses> result;
  std::copy(scores.begin(), scores.end(), result.begin());
  return result;
}

absl::StatusOr<EvalSet> LoadEvalSet(const std::string& path) {
  absl::StatusOr<safetensors::MappedFile> file =
      safetensors::MappedFile::Open(path);
  if (!file.ok()) return file.status();
  const safetensors::TensorInfo* images = file->Find("images");
  const safetensors::TensorInfo* labels = file->Find("labels");
  if (images == nullptr || labels == nullptr || images->dtype != "F32" ||
      labels->dtype != "I32" || labels->shape.size() != 1 ||
      images->shape !=
          std::vector<int64_t>{labels->shape[0], 1, kImageSide, kImageSide}) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": needs images F32 [n,1,8,8] and labels I32 [n]"));
  }
  EvalSet set;
  set.images.resize(images->size() / sizeof(float));
  set.labels.resize(labels->size() / sizeof(int32_t));
  std::memcpy(set.images.data(), file->Data(*images).data(), images->size());
  std::memcpy(set.labels.data(), file->Data(*labels).data(), labels->size());
  return set;
}

std::vector<std::array<float, kClasses>> Scores(const DigitsCnn& model,
                                                const EvalSet& set) {
  constexpr size_t kPixels = kImageSide * kImageSide;
  std::vector<std::array<float, kClasses>> scores;
  for (size_t i = 0; i < set.size(); ++i) {
    scores.push_back(model.Forward(
        absl::MakeConstSpan(set.images).subspan(i * kPixels, kPixels)));
  }
  return scores;
}

double Accuracy(absl::Span<const std::array<float, kClasses>> scores,
                const EvalSet& set) {
  size_t correct = 0;
  for (size_t i = 0; i < set.size(); ++i) {
    const int predicted =
        static_cast<int>(std::max_element(scores[i].begin(), scores[i].end()) -
                         scores[i].begin());
    if (predicted == set.labels[i]) ++correct;
  }
  return set.size() ? static_cast<double>(correct) / set.size() : 0;
}

double ScoreError(absl::Span<const std::array<float, kClasses>> scores,
                  absl::Span<const std::array<float, kClasses>> reference) {
  double sum = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    for (int c = 0; c < kClasses; ++c) {
      const double d = scores[i][c] - reference[i][c];
      sum += d * d;
    }
  }
  return scores.empty() ? 0 : sum / (scores.size() * kClasses);
}

}  // namespace squant::digits
