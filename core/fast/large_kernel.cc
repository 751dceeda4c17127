#include "core/fast/large_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/error_sum.h"

namespace squant {

void LargeKernelPass(const ChannelGrid& grid, bool decide, ChannelScratch& s,
                     MoveTally& tally) {
  const size_t k = s.kernel_size;
  std::vector<float> priority(k);
  std::vector<uint32_t> order(k);
  std::vector<uint8_t> flipped(k);
  for (size_t kernel = 0; kernel < s.kernels; ++kernel) {
    const size_t begin = kernel * k;
    const float* x = s.x.get() + begin;
    const float* e0 = s.e.get() + begin;
    const double sum = KernelErrorSum(e0, static_cast<int64_t>(k));
    s.kernel_before[kernel] = sum;
    s.kernel_after[kernel] = sum;
    s.kernel_recorded[kernel] = sum;
    if (!decide) continue;

    const bool up = sum < 0;
    for (size_t j = 0; j < k; ++j) {
      const bool can = up ? (e0[j] < 0 && x[j] < grid.t_max)
                          : (e0[j] > 0 && x[j] > grid.t_min);
      priority[j] = can ? std::fabs(e0[j]) : 0.0f;
    }
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return priority[a] > priority[b] || (priority[a] == priority[b] && a < b);
    });
    const double budget = std::fabs(sum);
    const double rounded = std::nearbyint(budget);
    const size_t n = static_cast<size_t>(rounded);
    const bool over = rounded >= budget;
    std::fill(flipped.begin(), flipped.end(), 0);
    for (size_t r = 0; r < n; ++r) flipped[order[r]] = 1;
    const float direction = up ? 1.0f : -1.0f;
    double after = 0;
    for (size_t j = 0; j < k; ++j) {
      const bool moved = flipped[j] && priority[j] > 0;
      after += static_cast<double>(e0[j]) + (moved ? direction : 0.0f);
    }
    s.kernel_after[kernel] = after;
    const size_t j = over ? order[n > 0 ? n - 1 : k - 1] : order[n];
    const float e =
        !flipped[j] ? e0[j] : (priority[j] > 0 ? e0[j] + direction : 0.0f);
    s.candidate[kernel] = static_cast<int32_t>(begin + j);
    // Signed as ChannelScratch::candidate_priority: negative offers up.
    s.candidate_priority[kernel] = (over != up) ? -std::fabs(e) : std::fabs(e);
    // Only now, as e0 points into s.e.
    for (size_t r = 0; r < n; ++r) {
      const size_t i = begin + order[r];
      const float e0_i = s.e[i];
      const int8_t move = FlipMove(up, s.x[i], e0_i, grid);
      s.e[i] = FlipError(up, e0_i, move);
      if (SetMove(i, s.x[i], s.move[i], move, grid, s, tally)) {
        ++tally.kernel_flips;
      }
    }
    s.kernel_recorded[kernel] =
        KernelErrorSum(s.e.get() + begin, static_cast<int64_t>(k));
  }
}

}  // namespace squant
