#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli/commands.h"
#include "client/cli/exit_code.h"
#include "client/cli/open_input.h"
#include "client/cli/quantized_format.h"
#include "nlohmann/json.hpp"

namespace squant::cli {
namespace {

// The quantization record of a NAME.qweight tensor, if it is one.
const QuantizedTensorRecord* RecordOf(
    const std::map<std::string, QuantizedTensorRecord>& records,
    const std::string& tensor_name) {
  if (!absl::EndsWith(tensor_name, kQWeightSuffix)) return nullptr;
  const auto it = records.find(
      tensor_name.substr(0, tensor_name.size() - kQWeightSuffix.size()));
  return it == records.end() ? nullptr : &it->second;
}

std::string Describe(const QuantizedTensorRecord& record) {
  return absl::StrCat(
      record.options.bits, "-bit ", ModeName(record.options.mode), " ",
      GridName(record.options.grid), record.packed ? " packed" : "", " of ",
      record.dtype, " [", absl::StrJoin(record.shape, ","), "]");
}

}  // namespace

absl::Status RunInspect(const InspectCommand& command) {
  absl::StatusOr<safetensors::MappedFile> file = OpenInput(command.file);
  if (!file.ok()) return file.status();
  absl::StatusOr<std::map<std::string, QuantizedTensorRecord>> records =
      ReadRecords(file->metadata());
  if (!records.ok()) {
    return WithExitCode(absl::InvalidArgumentError(absl::StrCat(
                            command.file, ": ", records.status().message())),
                        ExitCode::kInput);
  }

  if (command.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const safetensors::TensorInfo& tensor : file->tensors()) {
      nlohmann::json entry = {{"name", tensor.name},
                              {"dtype", tensor.dtype},
                              {"shape", tensor.shape},
                              {"bytes", tensor.size()}};
      if (const QuantizedTensorRecord* record =
              RecordOf(*records, tensor.name)) {
        entry["quantization"] = {
            {"bits", record->options.bits},
            {"mode", std::string(ModeName(record->options.mode))},
            {"grid", std::string(GridName(record->options.grid))},
            {"packed", record->packed},
            {"shape", record->shape},
            {"dtype", record->dtype}};
      }
      tensors.push_back(std::move(entry));
    }
    const nlohmann::json json = {{"file", command.file},
                                 {"metadata", file->metadata()},
                                 {"tensors", tensors}};
    absl::PrintF("%s\n", json.dump(2));
    return absl::OkStatus();
  }

  uint64_t bytes = 0;
  size_t name_width = 6;
  for (const safetensors::TensorInfo& tensor : file->tensors()) {
    bytes += tensor.size();
    name_width = std::max(name_width, tensor.name.size());
  }
  absl::PrintF("%s: %d tensors, %.3f MB of data\n", command.file,
               file->tensors().size(), bytes / 1e6);
  for (const auto& [key, value] : file->metadata()) {
    if (key == kLayersKey) continue;  // shown per tensor below
    absl::PrintF("  %s = %s\n", key, value);
  }
  const int width = static_cast<int>(name_width);
  absl::PrintF("%-*s %-5s %-18s %s\n", width, "tensor", "dtype", "shape",
               "quantization");
  for (const safetensors::TensorInfo& tensor : file->tensors()) {
    const QuantizedTensorRecord* record = RecordOf(*records, tensor.name);
    absl::PrintF("%-*s %-5s %-18s %s\n", width, tensor.name, tensor.dtype,
                 absl::StrJoin(tensor.shape, "x"),
                 record ? Describe(*record) : "");
  }
  return absl::OkStatus();
}

}  // namespace squant::cli
