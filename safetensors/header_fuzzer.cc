// libFuzzer target: ParseHeader on arbitrary bytes must return a status,
// never crash, and anything it accepts must describe in-range tensors.

#include <cstdint>
#include <cstdlib>

#include "safetensors/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<squant::safetensors::Header> header =
      squant::safetensors::ParseHeader(absl::MakeConstSpan(data, size));
  if (!header.ok()) return 0;
  for (const squant::safetensors::TensorInfo& tensor : header->tensors) {
    if (tensor.end < tensor.begin || header->data_offset + tensor.end > size) {
      std::abort();
    }
  }
  return 0;
}
