// Flips as moves of r away from rint(x), applied one element at a time:
// SQUANT.md's flip-as-assignment, with q and the squared-error account kept
// up to date as each element changes.

#ifndef SQUANT_CORE_FAST_MOVES_H_
#define SQUANT_CORE_FAST_MOVES_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/channel_grid.h"
#include "core/fast/scratch.h"

namespace squant {

// Where a flip in direction `up` leaves r, relative to r0 = rint(x): the
// direction's precomputed state (SQUANT.md section 2), e0 = r0 - x.
inline int8_t FlipMove(bool up, float x, float e0, const ChannelGrid& grid) {
  if (up) return (e0 < 0 && x < grid.t_max) ? 1 : 0;
  return (e0 > 0 && x > grid.t_min) ? -1 : 0;
}

// The error that flip records: e0 +- 1, or 0 when it could not move.
inline float FlipError(bool up, float e0, int8_t move) {
  if (move == 0) return 0.0f;
  return up ? e0 + 1.0f : e0 - 1.0f;
}

// What the moves of one channel changed.
struct MoveTally {
  int64_t kernel_flips = 0;   // kernel stage: elements that left rint(x)
  int64_t channel_flips = 0;  // channel stage: elements whose r changed
  int64_t move_sum = 0;       // sum of all moves
  double squared_delta = 0;   // change of sum (r - x)^2, before clamping
};

// Sets the move of element i (at x, moved by `old` so far: ChannelScratch::X
// and Move), updating q and the tally; false if unchanged.
inline bool SetMove(size_t i, float x, float old, int8_t move,
                    const ChannelGrid& grid, ChannelScratch& s,
                    MoveTally& tally) {
  if (old == move) return false;
  const float r0 = std::nearbyint(x);
  const double e0 = static_cast<double>(r0) - x;
  const double before = e0 + old, after = e0 + move;
  tally.squared_delta += after * after - before * before;
  tally.move_sum += move - static_cast<int64_t>(old);
  s.move[s.Slot(i)] = move;
  s.q[i] = static_cast<int8_t>(
      std::clamp(r0 + static_cast<float>(move), grid.t_min, grid.t_max));
  return true;
}

}  // namespace squant

#endif  // SQUANT_CORE_FAST_MOVES_H_
