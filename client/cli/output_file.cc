#include "client/cli/output_file.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/cli/exit_code.h"
#include "client/cli/page_release.h"
#include "client/cli/quantized_format.h"

namespace squant::cli {
namespace {

// Copies go through in pieces so that only a bounded part of the input is
// resident at a time.
constexpr uint64_t kCopyPieceBytes = 16 << 20;

absl::Status OutputError(absl::Status status) {
  return WithExitCode(std::move(status), ExitCode::kOutput);
}

absl::Span<const uint8_t> AsBytes(const void* data, size_t size) {
  return absl::MakeConstSpan(static_cast<const uint8_t*>(data), size);
}

}  // namespace

absl::StatusOr<QuantizedModelWriter> QuantizedModelWriter::Create(
    const std::string& path, const safetensors::MappedFile& input,
    absl::Span<const LayerTask> tasks,
    const std::map<std::string, std::string>& metadata) {
  std::map<const safetensors::TensorInfo*, size_t> task_of;
  for (size_t i = 0; i < tasks.size(); ++i) task_of[tasks[i].tensor] = i;

  std::vector<safetensors::TensorSpec> specs;
  std::vector<size_t> qweight_index(tasks.size());
  std::vector<Copy> copies;
  for (const safetensors::TensorInfo& tensor : input.tensors()) {
    const auto task = task_of.find(&tensor);
    if (task == task_of.end()) {
      copies.push_back(Copy{&tensor, specs.size()});
      specs.push_back({tensor.name, tensor.dtype, tensor.shape});
      continue;
    }
    const LayerTask& layer = tasks[task->second];
    const int64_t channels = layer.geometry.channels;
    qweight_index[task->second] = specs.size();
    if (layer.pack) {
      specs.push_back({absl::StrCat(tensor.name, kQWeightSuffix),
                       "U8",
                       {channels, (layer.geometry.channel_size() + 1) / 2}});
    } else {
      specs.push_back(
          {absl::StrCat(tensor.name, kQWeightSuffix), "I8", tensor.shape});
    }
    specs.push_back(
        {absl::StrCat(tensor.name, kScaleSuffix), "F32", {channels}});
    specs.push_back(
        {absl::StrCat(tensor.name, kZeroPointSuffix), "I32", {channels}});
  }
  absl::StatusOr<safetensors::Writer> writer =
      safetensors::Writer::Create(path, std::move(specs), metadata);
  if (!writer.ok()) {
    // A duplicate name comes from the input (say it holds both W and
    // W.scale); anything else is the output file's fault.
    return WithExitCode(
        writer.status(),
        writer.status().code() == absl::StatusCode::kInvalidArgument
            ? ExitCode::kInput
            : ExitCode::kOutput);
  }
  QuantizedModelWriter result(*std::move(writer), input);
  result.qweight_index_ = std::move(qweight_index);
  result.copies_ = std::move(copies);
  return result;
}

absl::Status QuantizedModelWriter::CopyUnselected() {
  for (const Copy& copy : copies_) {
    const absl::Span<const uint8_t> data = input_->Data(*copy.source);
    for (uint64_t offset = 0; offset < data.size(); offset += kCopyPieceBytes) {
      const absl::Span<const uint8_t> piece =
          data.subspan(offset, kCopyPieceBytes);
      if (absl::Status status = writer_.Write(copy.index, offset, piece);
          !status.ok()) {
        return OutputError(status);
      }
      ReleaseMappedPages(piece);
    }
  }
  return absl::OkStatus();
}

absl::Status QuantizedModelWriter::WriteScaleAndZeroPoint(
    size_t task, absl::Span<const float> scale,
    absl::Span<const int32_t> zero_point) {
  const size_t index = qweight_index_[task];
  absl::Status status =
      writer_.Write(index + 1, 0, AsBytes(scale.data(), scale.size() * 4));
  if (status.ok()) {
    status = writer_.Write(index + 2, 0,
                           AsBytes(zero_point.data(), zero_point.size() * 4));
  }
  return OutputError(status);
}

absl::Status QuantizedModelWriter::WriteValues(
    size_t task, uint64_t offset, absl::Span<const uint8_t> bytes) {
  return OutputError(writer_.Write(qweight_index_[task], offset, bytes));
}

absl::Status QuantizedModelWriter::Close() {
  return OutputError(writer_.Close());
}

}  // namespace squant::cli
