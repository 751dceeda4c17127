// Parsing and validating a safetensors header: untrusted input, so every
// field is checked before anything is derived from it.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "safetensors/safetensors.h"

namespace squant::safetensors {
namespace {

// The reference implementation refuses headers over 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed safetensors header: ", what));
}

absl::StatusOr<TensorInfo> ParseTensor(const std::string& name,
                                       const nlohmann::json& entry) {
  const std::string where = absl::StrCat("tensor '", name, "'");
  if (!entry.is_object()) return Malformed(absl::StrCat(where, " is not an object"));
  const auto dtype = entry.find("dtype");
  const auto shape = entry.find("shape");
  const auto offsets = entry.find("data_offsets");
  if (dtype == entry.end() || !dtype->is_string()) {
    return Malformed(absl::StrCat(where, " has no string 'dtype'"));
  }
  if (shape == entry.end() || !shape->is_array()) {
    return Malformed(absl::StrCat(where, " has no array 'shape'"));
  }
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned()) {
    return Malformed(
        absl::StrCat(where, " needs 'data_offsets' [begin, end] of integers"));
  }
  TensorInfo info;
  info.name = name;
  info.dtype = dtype->get<std::string>();
  const int element_size = DTypeSize(info.dtype);
  if (element_size == 0) {
    return Malformed(absl::StrCat(where, " has unknown dtype '", info.dtype, "'"));
  }
  uint64_t bytes = element_size;
  for (const nlohmann::json& dim : *shape) {
    if (!dim.is_number_unsigned()) {
      return Malformed(absl::StrCat(where, " has a shape entry that is not a "
                                           "non-negative integer"));
    }
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (d != 0 && bytes > std::numeric_limits<uint64_t>::max() / d)) {
      return Malformed(absl::StrCat(where, " has a shape too large"));
    }
    bytes *= d;
    info.shape.push_back(static_cast<int64_t>(d));
  }
  info.begin = (*offsets)[0].get<uint64_t>();
  info.end = (*offsets)[1].get<uint64_t>();
  if (info.end < info.begin || info.end - info.begin != bytes) {
    return Malformed(absl::StrCat(where, " has data_offsets [", info.begin, ", ",
                                  info.end, "] but its shape and dtype need ",
                                  bytes, " bytes"));
  }
  return info;
}

}  // namespace

int DTypeSize(absl::string_view dtype) {
  if (dtype == "BOOL" || dtype == "U8" || dtype == "I8" || dtype == "F8_E5M2" ||
      dtype == "F8_E4M3") {
    return 1;
  }
  if (dtype == "I16" || dtype == "U16" || dtype == "F16" || dtype == "BF16") {
    return 2;
  }
  if (dtype == "I32" || dtype == "U32" || dtype == "F32") return 4;
  if (dtype == "I64" || dtype == "U64" || dtype == "F64") return 8;
  return 0;
}

absl::StatusOr<Header> ParseHeader(absl::Span<const uint8_t> file) {
  if (file.size() < 8) {
    return Malformed(absl::StrCat("file is ", file.size(),
                                  " bytes, shorter than the 8-byte length"));
  }
  uint64_t header_bytes;
  std::memcpy(&header_bytes, file.data(), sizeof(header_bytes));
  if (header_bytes > kMaxHeaderBytes || header_bytes > file.size() - 8) {
    return Malformed(absl::StrCat("header length ", header_bytes,
                                  " exceeds the file (", file.size(),
                                  " bytes) or the 100 MB limit"));
  }
  const char* text = reinterpret_cast<const char*>(file.data() + 8);
  const nlohmann::json json = nlohmann::json::parse(
      text, text + header_bytes, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Malformed("header is not valid JSON");
  if (!json.is_object()) return Malformed("header is not a JSON object");

  Header header;
  header.data_offset = 8 + header_bytes;
  for (const auto& [key, value] : json.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return Malformed("__metadata__ is not an object");
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string()) {
          return Malformed(absl::StrCat("__metadata__ value '", meta_key,
                                        "' is not a string"));
        }
        header.metadata[meta_key] = meta_value.get<std::string>();
      }
      continue;
    }
    absl::StatusOr<TensorInfo> tensor = ParseTensor(key, value);
    if (!tensor.ok()) return tensor.status();
    header.tensors.push_back(*std::move(tensor));
  }

  // Tensors must tile the data section exactly: no gap, no overlap.
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  const uint64_t data_bytes = file.size() - header.data_offset;
  uint64_t expected_begin = 0;
  for (const TensorInfo& tensor : header.tensors) {
    if (tensor.begin != expected_begin) {
      return Malformed(absl::StrCat("tensor '", tensor.name, "' starts at ",
                                    tensor.begin, "; expected ", expected_begin,
                                    " (gap or overlap)"));
    }
    expected_begin = tensor.end;
  }
  if (expected_begin != data_bytes) {
    return Malformed(absl::StrCat("tensors cover ", expected_begin,
                                  " bytes but the data section has ",
                                  data_bytes, " (truncated or padded file)"));
  }
  return header;
}

}  // namespace squant::safetensors
