// The kernel stage for kernels too large to rank in SIMD registers (more
// than kMaxLaneKernel elements): one kernel at a time, with a sort. Same
// outputs as KernelStageLanes (kernel_stage-inl.h).

#ifndef SQUANT_CORE_FAST_LARGE_KERNEL_H_
#define SQUANT_CORE_FAST_LARGE_KERNEL_H_

#include <cstddef>

#include "core/channel_grid.h"
#include "core/fast/moves.h"
#include "core/fast/scratch.h"

namespace squant {

// Without `decide`, only the sums (after = before).
void LargeKernelPass(const ChannelGrid& grid, bool decide, ChannelScratch& s,
                     MoveTally& tally);

}  // namespace squant

#endif  // SQUANT_CORE_FAST_LARGE_KERNEL_H_
