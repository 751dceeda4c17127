#include "client/cli/selection.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/cli/exit_code.h"
#include "re2/re2.h"

namespace squant::cli {
namespace {

bool IsFloating(absl::string_view dtype) {
  return dtype == "F32" || dtype == "F16" || dtype == "BF16" ||
         dtype == "F64" || dtype == "F8_E5M2" || dtype == "F8_E4M3";
}

// RE2, as gRPC uses: linear-time matching, so no pattern can make
// selection hang on a model with many tensors.
using Pattern = std::unique_ptr<const RE2>;

absl::StatusOr<Pattern> Compile(const std::string& pattern,
                                absl::string_view flag) {
  auto regex = std::make_unique<const RE2>(pattern, RE2::Quiet);
  if (!regex->ok()) {
    return WithExitCode(
        absl::InvalidArgumentError(absl::StrCat(
            flag, " '", pattern, "' is not a valid regex: ", regex->error())),
        ExitCode::kUsage);
  }
  return regex;
}

absl::StatusOr<std::vector<Pattern>> CompileAll(
    const std::vector<std::string>& patterns, absl::string_view flag) {
  std::vector<Pattern> compiled;
  for (const std::string& pattern : patterns) {
    absl::StatusOr<Pattern> regex = Compile(pattern, flag);
    if (!regex.ok()) return regex.status();
    compiled.push_back(*std::move(regex));
  }
  return compiled;
}

bool Matches(const Pattern& pattern, const std::string& name) {
  return RE2::PartialMatch(name, *pattern);
}

bool MatchesAny(const std::vector<Pattern>& patterns, const std::string& name) {
  for (const Pattern& pattern : patterns) {
    if (Matches(pattern, name)) return true;
  }
  return false;
}

absl::Status TensorError(const std::string& name, absl::string_view problem) {
  return WithExitCode(absl::InvalidArgumentError(
                          absl::StrCat("tensor '", name, "': ", problem)),
                      ExitCode::kInput);
}

}  // namespace

uint64_t LayerTask::values_bytes() const {
  if (!pack) return static_cast<uint64_t>(geometry.elements());
  return static_cast<uint64_t>(geometry.channels) *
         static_cast<uint64_t>((geometry.channel_size() + 1) / 2);
}

absl::StatusOr<std::vector<LayerTask>> SelectLayers(
    const safetensors::MappedFile& input, const SelectionRules& rules) {
  absl::StatusOr<std::vector<Pattern>> include =
      CompileAll(rules.include, "--include");
  if (!include.ok()) return include.status();
  absl::StatusOr<std::vector<Pattern>> exclude =
      CompileAll(rules.exclude, "--exclude");
  if (!exclude.ok()) return exclude.status();
  std::vector<Pattern> override_patterns;
  for (const BitsOverride& bits_override : rules.bits_overrides) {
    absl::StatusOr<Pattern> regex =
        Compile(bits_override.pattern, "--bits_override");
    if (!regex.ok()) return regex.status();
    override_patterns.push_back(*std::move(regex));
  }

  std::vector<LayerTask> tasks;
  for (const safetensors::TensorInfo& tensor : input.tensors()) {
    if (tensor.shape.size() < 2 || !IsFloating(tensor.dtype)) continue;
    if (!include->empty() && !MatchesAny(*include, tensor.name)) continue;
    if (MatchesAny(*exclude, tensor.name)) continue;
    absl::StatusOr<DType> dtype = ParseDType(tensor.dtype);
    if (!dtype.ok()) {
      return TensorError(tensor.name,
                         absl::StrCat("dtype ", tensor.dtype,
                                      " cannot be quantized (F32, F16 and "
                                      "BF16 can); --exclude it to copy it"));
    }
    LayerTask task;
    task.tensor = &tensor;
    task.dtype = *dtype;
    task.data = input.Data(tensor);
    task.options = rules.defaults;
    for (size_t i = 0; i < override_patterns.size(); ++i) {
      if (Matches(override_patterns[i], tensor.name)) {
        task.options.bits = rules.bits_overrides[i].bits;
        break;
      }
    }
    task.pack = rules.pack && task.options.bits <= kMaxPackedBits;
    absl::StatusOr<LayerGeometry> geometry =
        ValidateLayer(task.weights(), task.options);
    if (!geometry.ok()) {
      return TensorError(tensor.name, geometry.status().message());
    }
    task.geometry = *geometry;
    tasks.push_back(task);
  }
  if (!rules.include.empty() && tasks.empty()) {
    return WithExitCode(
        absl::InvalidArgumentError(
            "--include matches no floating tensor of rank >= 2 in the input"),
        ExitCode::kInput);
  }
  return tasks;
}

}  // namespace squant::cli
