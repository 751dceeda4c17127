// squant-digits-eval: accuracy of the sample digits CNN (samples/) with
// float or squant-cli-quantized weights, for the demo.
//   squant-digits-eval --data samples/digits_test.safetensors MODEL...
// prints one line per MODEL: its held-out accuracy and the mean squared
// difference of its class scores from the first MODEL's (the float one).

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/digits_eval/digits_cnn.h"

int main(int argc, char** argv) {
  std::string data;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--data" && i + 1 < argc) {
      data = argv[++i];
    } else if (arg.rfind("--", 0) == 0) {
      models.clear();
      break;
    } else {
      models.push_back(arg);
    }
  }
  if (data.empty() || models.empty()) {
    absl::FPrintF(stderr,
                  "usage: squant-digits-eval --data DIGITS_TEST.safetensors "
                  "MODEL.safetensors...\n");
    return 1;
  }
  absl::StatusOr<squant::digits::EvalSet> set =
      squant::digits::LoadEvalSet(data);
  if (!set.ok()) {
    absl::FPrintF(stderr, "squant-digits-eval: %s\n", set.status().message());
    return 2;
  }
  std::vector<std::array<float, squant::digits::kClasses>> reference;
  absl::PrintF("%-44s %9s %16s\n", "model", "accuracy", "score MSE vs 1st");
  for (const std::string& path : models) {
    absl::StatusOr<squant::digits::DigitsCnn> model =
        squant::digits::DigitsCnn::Load(path);
    if (!model.ok()) {
      absl::FPrintF(stderr, "squant-digits-eval: %s\n",
                    model.status().message());
      return 2;
    }
    const auto scores = squant::digits::Scores(*model, *set);
    if (reference.empty()) reference = scores;
    const std::string name = std::filesystem::path(path).filename().string();
    absl::PrintF("%-44s %8.2f%% %16.5f\n", name,
                 100 * squant::digits::Accuracy(scores, *set),
                 squant::digits::ScoreError(scores, reference));
  }
  absl::PrintF("(%d held-out images)\n", set->size());
  return 0;
}
