// Memory for a layer's input bytes as they arrive. Up to 30 MiB they come
// from malloc, which reuses the memory of layers already quantized (see
// allocator_tuning.h). Bigger buffers are mapped with transparent huge
// pages requested (2 MiB pages: the first write to each costs one page
// fault instead of 512), and take physical memory only as the bytes land.

#ifndef SQUANT_SERVER_LAYER_BUFFER_H_
#define SQUANT_SERVER_LAYER_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace squant::server {

struct LayerBufferDeleter {
  size_t mapped_bytes = 0;  // 0: allocated with new[]
  void operator()(uint8_t* bytes) const;
};
using LayerBuffer = std::unique_ptr<uint8_t[], LayerBufferDeleter>;

// `bytes` bytes, not initialized; RESOURCE_EXHAUSTED when the memory cannot
// be reserved.
absl::StatusOr<LayerBuffer> AllocateLayerBuffer(size_t bytes);

}  // namespace squant::server

#endif  // SQUANT_SERVER_LAYER_BUFFER_H_
