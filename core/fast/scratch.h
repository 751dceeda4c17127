// Per-call working memory of the fast implementation, sized once for a layer
// so that the per-channel loop never allocates.

#ifndef SQUANT_CORE_FAST_SCRATCH_H_
#define SQUANT_CORE_FAST_SCRATCH_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/channel_grid.h"
#include "core/squant.h"
#include "hwy/aligned_allocator.h"

namespace squant {

// Widest vector of any compiled target, in float lanes (AVX-512).
inline constexpr size_t kMaxFloatLanes = 16;

inline size_t RoundUp(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

struct ChannelScratch {
  explicit ChannelScratch(const LayerGeometry& geometry)
      : kernels(static_cast<size_t>(geometry.kernels_per_channel)),
        kernel_size(static_cast<size_t>(geometry.kernel_size)),
        size(kernels * kernel_size),
        // Whole vectors of elements, and whole groups of kernels (one kernel
        // per lane), both read past `size`: the padding holds x = 0, which
        // never flips and adds nothing to any sum.
        padded_kernels(RoundUp(kernels, kMaxFloatLanes)),
        padded_size(std::max(RoundUp(size, kMaxFloatLanes),
                             padded_kernels * kernel_size)),
        w_buffer(Zeroed<float>(padded_size)),
        x(Zeroed<float>(padded_size)),
        e(Zeroed<float>(padded_size)),
        signed_priority(Zeroed<float>(padded_size)),
        move(Zeroed<float>(padded_size)),
        q_buffer(Zeroed<int8_t>(padded_size)),
        kernel_before(Zeroed<double>(padded_kernels)),
        kernel_after(Zeroed<double>(padded_kernels)),
        kernel_recorded(Zeroed<double>(padded_kernels)),
        candidate(Zeroed<int32_t>(padded_kernels)),
        candidate_priority(Zeroed<float>(padded_kernels)),
        dirty(Zeroed<uint8_t>(padded_kernels)),
        positions(Zeroed<int32_t>(padded_size + kMaxFloatLanes)),
        // Blocks of 16 elements, or groups of at least 4 kernels of K >= 2.
        extreme_blocks(Zeroed<int32_t>(padded_size / 8 + 1)) {}

  const size_t kernels;         // N
  const size_t kernel_size;     // K
  const size_t size;            // N*K, one output channel
  const size_t padded_kernels;  // N rounded up to whole vectors
  const size_t padded_size;     // covers both paddings

  // Where element i's move is kept (w, x, e and q are always in memory
  // order): i itself, or, after the lane-wise kernel stage, lane-major
  // within groups of `lane_layout` kernels (see lane_major_index).
  size_t Slot(size_t i) const {
    if (lane_layout == 0) return i;
    const size_t kernel = i / kernel_size;
    const size_t lane = kernel % lane_layout;
    return (kernel - lane) * kernel_size +
           (i - kernel * kernel_size) * lane_layout + lane;
  }
  size_t lane_layout = 0;

  // Element i's x and move. The lane-wise kernel stage (lane_layout != 0)
  // keeps neither in memory but the moves of its edge groups, the groups
  // with some x >= t_max or x <= t_min (storing them cost it 7%): x comes
  // again from w by the stage's own float32 operations, and move from
  // q = rint(x) + move, which only an element whose rint(x) lies outside
  // the grid (in an edge group) can have clamped.
  float X(size_t i) const {
    return lane_layout == 0 ? x[i] : GridPosition(grid, grid_kind, w[i]);
  }
  float Move(size_t i, float x) const {  // x = X(i)
    if (lane_layout == 0) return move[i];
    const float r0 = std::nearbyint(x);
    return OutsideGrid(grid, r0) ? move[Slot(i)]
                                 : static_cast<float>(q[i]) - r0;
  }
  // The channel's grid, for X.
  ChannelGrid grid;
  Grid grid_kind = Grid::kAsymmetric;

  // One output channel, by element.
  // The input as float32: the input row itself where it is float32, aligned
  // as float and needs no padding (rows then cost no copy), else w_buffer.
  const float* w = nullptr;
  hwy::AlignedFreeUniquePtr<float[]> w_buffer;
  hwy::AlignedFreeUniquePtr<float[]> x;  // grid position (see X)
  // Recorded error, rint(x) - x at first (K > 1 without the lane-wise
  // kernel stage only).
  hwy::AlignedFreeUniquePtr<float[]> e;
  // Element-stage priority with the direction in its sign: e0 where the
  // element can flip (up if negative, down if positive), else 0.
  hwy::AlignedFreeUniquePtr<float[]> signed_priority;
  // Where r now is: rint(x) + move, move in {-1, 0, 1} (by Slot; see Move).
  hwy::AlignedFreeUniquePtr<float[]> move;
  // clamp(rint(x) + move): the output row itself, or q_buffer where the
  // lane-wise kernel stage's last group would write past the row.
  int8_t* q = nullptr;
  hwy::AlignedFreeUniquePtr<int8_t[]> q_buffer;

  // One output channel, by kernel.
  hwy::AlignedFreeUniquePtr<double[]> kernel_before;  // sum of RTN errors
  hwy::AlignedFreeUniquePtr<double[]> kernel_after;   // sum of final errors
  // Sum of the errors the kernel stage recorded (SQUANT.md section 2), in
  // the canonical order: the channel stage's decision adds these.
  hwy::AlignedFreeUniquePtr<double[]> kernel_recorded;
  hwy::AlignedFreeUniquePtr<int32_t[]> candidate;  // element index
  // The candidate's channel-stage priority, signed as signed_priority.
  hwy::AlignedFreeUniquePtr<float[]> candidate_priority;
  // The kernel's sums must be recomputed element by element (an element
  // at the grid's edge or a channel-stage flip changed them).
  hwy::AlignedFreeUniquePtr<uint8_t[]> dirty;

  // Channel-stage selection: positions at or above a threshold (with room
  // for a whole vector past the last), and the elements the stage flips.
  hwy::AlignedFreeUniquePtr<int32_t[]> positions;
  std::vector<uint64_t> keys;
  std::vector<int32_t> picks;
  // The threshold the previous channel's selection collected at.
  float previous_threshold = 0;

  // The input row the pass after LoadRow (the lane-wise kernel stage or
  // PositionPass) prefetches: the next channel's. And its elements' size.
  const uint8_t* prefetch_row = nullptr;
  size_t element_bytes = 4;
  // Elements whose rint(x) lies outside [t_min, t_max] (OutsideGrid), the
  // only ones clamping changes. Their kernels' sums are recomputed.
  std::vector<int32_t> edges;
  void AddEdge(size_t i) {
    edges.push_back(static_cast<int32_t>(i));
    dirty[i / kernel_size] = 1;
  }
  // The first elements of the blocks (or kernel groups) that hold elements
  // at x >= t_max or x <= t_min: listed in the SIMD loops, which must not
  // call anything (all vector registers are caller-saved), and revisited
  // after them.
  hwy::AlignedFreeUniquePtr<int32_t[]> extreme_blocks;
  // For groups of `lanes` kernels, one per lane: element p (memory order)
  // of a group is element p % K of lane p / K, stored lane-major at
  // (p % K) * lanes + p / K. Set by the SIMD code for its vector width.
  std::vector<int32_t> lane_major_index;

 private:
  template <typename T>
  static hwy::AlignedFreeUniquePtr<T[]> Zeroed(size_t count) {
    hwy::AlignedFreeUniquePtr<T[]> array =
        hwy::AllocateAligned<T>(std::max<size_t>(count, 1));
    for (size_t i = 0; i < std::max<size_t>(count, 1); ++i) array[i] = T{};
    return array;
  }
};

}  // namespace squant

#endif  // SQUANT_CORE_FAST_SCRATCH_H_
