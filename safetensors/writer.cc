#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "safetensors/safetensors.h"

namespace squant::safetensors {
namespace {

absl::Status IoError(const std::string& path, absl::string_view what) {
  return absl::InternalError(
      absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, const uint8_t* data, size_t size, uint64_t at,
                      const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(at));
    if (written < 0) {
      if (errno == EINTR) continue;
      return IoError(path, "write failed");
    }
    data += written;
    size -= static_cast<size_t>(written);
    at += static_cast<uint64_t>(written);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Writer> Writer::Create(
    const std::string& path, std::vector<TensorSpec> specs,
    const std::map<std::string, std::string>& metadata) {
  Writer writer;
  writer.path_ = path;
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (TensorSpec& spec : specs) {
    const int element_size = DTypeSize(spec.dtype);
    if (element_size == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", spec.name, "': unknown dtype '", spec.dtype, "'"));
    }
    if (header.contains(spec.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", spec.name, "' appears twice"));
    }
    uint64_t bytes = element_size;
    for (int64_t d : spec.shape) bytes *= static_cast<uint64_t>(d);
    TensorInfo info{spec.name, spec.dtype, spec.shape, offset, offset + bytes};
    header[spec.name] = {{"dtype", info.dtype},
                         {"shape", info.shape},
                         {"data_offsets", {info.begin, info.end}}};
    offset = info.end;
    writer.tensors_.push_back(std::move(info));
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  const uint64_t header_bytes = text.size();
  writer.data_offset_ = 8 + header_bytes;

  writer.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (writer.fd_ < 0) return IoError(path, "cannot create");
  uint8_t length[8];
  std::memcpy(length, &header_bytes, sizeof(length));
  absl::Status status = WriteAll(writer.fd_, length, 8, 0, path);
  if (status.ok()) {
    status = WriteAll(writer.fd_, reinterpret_cast<const uint8_t*>(text.data()),
                      text.size(), 8, path);
  }
  if (status.ok() &&
      ::ftruncate(writer.fd_, static_cast<off_t>(writer.data_offset_ + offset)) != 0) {
    status = IoError(path, "cannot size");
  }
  if (!status.ok()) return status;
  return writer;
}

Writer::Writer(Writer&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      data_offset_(other.data_offset_),
      tensors_(std::move(other.tensors_)) {}

Writer& Writer::operator=(Writer&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    data_offset_ = other.data_offset_;
    tensors_ = std::move(other.tensors_);
  }
  return *this;
}

Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status Writer::Write(size_t index, uint64_t offset,
                           absl::Span<const uint8_t> bytes) {
  if (fd_ < 0) return absl::FailedPreconditionError("writer is closed");
  if (index >= tensors_.size() || offset > tensors_[index].size() ||
      bytes.size() > tensors_[index].size() - offset) {
    return absl::OutOfRangeError(absl::StrCat(
        path_, ": write of ", bytes.size(), " bytes at ", offset,
        " outside tensor ", index < tensors_.size() ? tensors_[index].name : "?"));
  }
  return WriteAll(fd_, bytes.data(), bytes.size(),
                  data_offset_ + tensors_[index].begin + offset, path_);
}

absl::Status Writer::Close() {
  if (fd_ < 0) return absl::FailedPreconditionError("writer is closed");
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return IoError(path_, "close failed");
  return absl::OkStatus();
}

}  // namespace squant::safetensors
