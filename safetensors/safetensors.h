// Reading and writing safetensors files (huggingface/safetensors format):
// an 8-byte little-endian header length, a JSON header
//   {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//    "__metadata__": {"key": "string value", ...}}
// then the tensors' bytes, little-endian, C order. Offsets are relative to
// the end of the header.
//
// The reader maps the file and never copies tensor bytes; everything in the
// header is validated before use (it is untrusted input).

#ifndef SQUANT_SAFETENSORS_SAFETENSORS_H_
#define SQUANT_SAFETENSORS_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace squant::safetensors {

struct TensorInfo {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "I8", "U8", "I32", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets in the data section
  uint64_t end = 0;
  uint64_t size() const { return end - begin; }
};

struct Header {
  std::vector<TensorInfo> tensors;  // in data order
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data section starts in the file
};

// Bytes per element of a safetensors dtype name, or 0 if unknown.
int DTypeSize(absl::string_view dtype);

// Parses and validates the header of a whole file's bytes: header length in
// range, valid JSON of the expected form, known dtypes, shapes whose byte
// size matches the offsets, tensors that tile the data section with no gap
// or overlap, string-only metadata. Errors name the tensor or field.
absl::StatusOr<Header> ParseHeader(absl::Span<const uint8_t> file);

// A read-only memory-mapped safetensors file.
class MappedFile {
 public:
  static absl::StatusOr<MappedFile> Open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const Header& header() const { return header_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const {
    return header_.metadata;
  }
  // nullptr if there is no such tensor.
  const TensorInfo* Find(absl::string_view name) const;
  absl::Span<const uint8_t> Data(const TensorInfo& tensor) const;

 private:
  MappedFile() = default;
  void Unmap();

  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  Header header_;
};

// What a tensor of a file being written will hold.
struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
};

// Writes a safetensors file whose layout is fixed up front, so that tensors
// can be filled in any order and in pieces (results arrive out of order).
// Tensors are laid out in the order given; the header is padded with spaces
// to a multiple of 8 bytes. The same specs and bytes give the same file.
class Writer {
 public:
  static absl::StatusOr<Writer> Create(
      const std::string& path, std::vector<TensorSpec> specs,
      const std::map<std::string, std::string>& metadata);

  Writer(Writer&& other) noexcept;
  Writer& operator=(Writer&& other) noexcept;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // Writes `bytes` at `offset` within tensor `index` (of the specs).
  absl::Status Write(size_t index, uint64_t offset,
                     absl::Span<const uint8_t> bytes);
  // Flushes and closes; a Writer not closed leaves a file to be discarded.
  absl::Status Close();

 private:
  Writer() = default;

  int fd_ = -1;
  std::string path_;
  uint64_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;
};

}  // namespace squant::safetensors

#endif  // SQUANT_SAFETENSORS_SAFETENSORS_H_
