#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/exit_code.h"
#include "client/cli/float_tensors.h"
#include "client/cli/open_input.h"
#include "client/cli/quantized_format.h"

namespace squant::cli {
namespace {

// What one output tensor is made from.
struct Source {
  const safetensors::TensorInfo* copy = nullptr;  // copied unchanged, or
  std::string dequantize;                         // a quantized NAME
};

// NAME if `tensor_name` is NAME + suffix for a recorded NAME.
std::string QuantizedName(
    const std::map<std::string, QuantizedTensorRecord>& records,
    const std::string& tensor_name) {
  for (absl::string_view suffix :
       {kQWeightSuffix, kScaleSuffix, kZeroPointSuffix}) {
    if (absl::EndsWith(tensor_name, suffix)) {
      std::string name =
          tensor_name.substr(0, tensor_name.size() - suffix.size());
      if (records.contains(name)) return name;
    }
  }
  return "";
}

}  // namespace

absl::Status RunDequantize(const DequantizeCommand& command) {
  absl::StatusOr<safetensors::MappedFile> input = OpenInput(command.input);
  if (!input.ok()) return input.status();
  const auto input_error = [&](const absl::Status& status) {
    return WithExitCode(
        absl::Status(status.code(),
                     absl::StrCat(command.input, ": ", status.message())),
        ExitCode::kInput);
  };
  absl::StatusOr<std::map<std::string, QuantizedTensorRecord>> records =
      ReadRecords(input->metadata());
  if (!records.ok()) return input_error(records.status());

  std::vector<safetensors::TensorSpec> specs;
  std::vector<Source> sources;
  for (const safetensors::TensorInfo& tensor : input->tensors()) {
    const std::string name = QuantizedName(*records, tensor.name);
    if (name.empty()) {
      specs.push_back({tensor.name, tensor.dtype, tensor.shape});
      sources.push_back({&tensor, ""});
    } else if (absl::EndsWith(tensor.name, kQWeightSuffix)) {
      specs.push_back({name, "F32", records->at(name).shape});
      sources.push_back({nullptr, name});
    }
  }
  std::map<std::string, std::string> metadata = input->metadata();
  metadata.erase(kLayersKey);
  metadata["squant.dequantized"] = "true";

  absl::StatusOr<safetensors::Writer> writer =
      safetensors::Writer::Create(command.output, std::move(specs), metadata);
  if (!writer.ok()) return WithExitCode(writer.status(), ExitCode::kOutput);
  for (size_t i = 0; i < sources.size(); ++i) {
    absl::Status status;
    if (sources[i].copy != nullptr) {
      status = writer->Write(i, 0, input->Data(*sources[i].copy));
    } else {
      absl::StatusOr<FloatTensor> tensor = Dequantize(
          *input, sources[i].dequantize, records->at(sources[i].dequantize));
      if (!tensor.ok()) return input_error(tensor.status());
      status = writer->Write(
          i, 0,
          absl::MakeConstSpan(
              reinterpret_cast<const uint8_t*>(tensor->values.data()),
              tensor->values.size() * sizeof(float)));
    }
    if (!status.ok()) return WithExitCode(status, ExitCode::kOutput);
  }
  return WithExitCode(writer->Close(), ExitCode::kOutput);
}

}  // namespace squant::cli
