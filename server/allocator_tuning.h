// Process-wide malloc settings for streaming tensors. Every message gRPC
// reads lands in freshly allocated buffers of up to a few MiB; with glibc's
// defaults the memory freed after each one goes back to the kernel (heap
// trimming above 128 KiB free, or munmap of a mapped chunk), so the next
// one page-faults and zeroes its pages again: measured with service_bench,
// that was three faults in four and about a quarter of the CPU time of a
// stream. Keeping up to 64 MiB free per malloc arena for reuse removes most
// of it, at the cost of that much resident memory per arena when idle.

#ifndef SQUANT_SERVER_ALLOCATOR_TUNING_H_
#define SQUANT_SERVER_ALLOCATOR_TUNING_H_

#include <cstddef>

namespace squant::server {

// Allocations up to this size come from malloc's arenas (and are reused);
// bigger ones get mappings of their own (glibc's largest dynamic threshold).
inline constexpr size_t kLargestArenaChunkBytes = size_t{32} << 20;

// Call once at startup, before threads start.
void KeepFreedMemoryForReuse();

}  // namespace squant::server

#endif  // SQUANT_SERVER_ALLOCATOR_TUNING_H_
