// The reference implementation of SQuant: SQUANT.md transcribed step by step
// with plain loops and full sorts, so that it is easy to check against the
// specification. Tests hold the fast implementation to its bytes.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/channel_grid.h"
#include "core/error_sum.h"
#include "core/input_row.h"
#include "core/squant.h"

namespace squant {
namespace {

// Rounding state of one output channel (SQUANT.md section 2). A flip
// ASSIGNS a precomputed state to (r, e); it never adds or subtracts 1.
struct ChannelState {
  explicit ChannelState(int64_t size)
      : x(size),
        r0(size),
        r(size),
        e(size),
        up_r(size),
        up_e(size),
        down_r(size),
        down_e(size),
        up_priority(size),
        down_priority(size) {}

  std::vector<float> x, r0, r, e;
  std::vector<float> up_r, up_e, down_r, down_e;
  std::vector<float> up_priority, down_priority;
};

void ElementStage(const ChannelGrid& grid, ChannelState& s) {
  for (size_t i = 0; i < s.x.size(); ++i) {
    const float x = s.x[i];
    const float r0 = std::nearbyint(x);
    const float e0 = r0 - x;
    s.r0[i] = s.r[i] = r0;
    s.e[i] = e0;
    const bool can_go_up = e0 < 0 && x < grid.t_max;
    s.up_priority[i] = can_go_up ? std::fabs(e0) : 0.0f;
    s.up_r[i] = can_go_up ? r0 + 1.0f : r0;
    s.up_e[i] = can_go_up ? e0 + 1.0f : 0.0f;
    const bool can_go_down = e0 > 0 && x > grid.t_min;
    s.down_priority[i] = can_go_down ? e0 : 0.0f;
    s.down_r[i] = can_go_down ? r0 - 1.0f : r0;
    s.down_e[i] = can_go_down ? e0 - 1.0f : 0.0f;
  }
}

// Indices [begin, begin+count) by descending priority, equal priorities
// lower index first.
std::vector<int64_t> PriorityOrder(const std::vector<float>& priority,
                                   int64_t begin, int64_t count) {
  std::vector<int64_t> order(count);
  std::iota(order.begin(), order.end(), begin);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return priority[a] > priority[b];
  });
  return order;
}

void Flip(ChannelState& s, int64_t i, bool up) {
  s.r[i] = up ? s.up_r[i] : s.down_r[i];
  s.e[i] = up ? s.up_e[i] : s.down_e[i];
}

// SQUANT.md section 3, for the kernel at [begin, begin+size).
void KernelStage(int64_t begin, int64_t size, ChannelState& s) {
  const double sum = KernelErrorSum(&s.e[begin], size);
  const bool up = sum < 0;
  const std::vector<int64_t> order =
      PriorityOrder(up ? s.up_priority : s.down_priority, begin, size);
  std::fill_n(&s.up_priority[begin], size, 0.0f);
  std::fill_n(&s.down_priority[begin], size, 0.0f);

  const double budget = std::fabs(sum);
  const double flips = std::nearbyint(budget);
  const int64_t n = static_cast<int64_t>(flips);
  for (int64_t k = 0; k < n; ++k) Flip(s, order[k], up);
  if (flips >= budget) {
    // Over-flipped: the last flipped element (order[-1], the last of the
    // whole order, when nothing flipped) may be undone at the channel stage.
    const int64_t i = n > 0 ? order[n - 1] : order[size - 1];
    (up ? s.down_priority : s.up_priority)[i] = std::fabs(s.e[i]);
  } else {
    // Under-flipped: the next element may still flip the same way.
    const int64_t i = order[n];
    (up ? s.up_priority : s.down_priority)[i] = std::fabs(s.e[i]);
  }
}

// SQUANT.md section 4, over the whole channel.
void ChannelStage(int64_t kernel_size, ChannelState& s) {
  const int64_t size = static_cast<int64_t>(s.e.size());
  const double sum =
      ChannelErrorSum(s.e.data(), size / kernel_size, kernel_size);
  const bool up = sum < 0;
  const std::vector<int64_t> order =
      PriorityOrder(up ? s.up_priority : s.down_priority, 0, size);
  const int64_t n = static_cast<int64_t>(std::nearbyint(std::fabs(sum)));
  for (int64_t k = 0; k < n; ++k) Flip(s, order[k], up);
}

double Square(double v) { return v * v; }

void QuantizeDegenerateChannel(const ChannelGrid& grid,
                               const std::vector<float>& w, int8_t* q,
                               ChannelStats& stats) {
  const int8_t value = DegenerateValue(grid);
  std::fill_n(q, w.size(), value);
  stats = ChannelStats{};
  stats.degenerate = true;
  const double dequantized = static_cast<double>(grid.scale) * value;
  for (const float wi : w)
    stats.squared_error_squant += Square(dequantized - wi);
  stats.squared_error_rtn = stats.squared_error_squant;
}

void QuantizeChannel(const std::vector<float>& w, const QuantOptions& options,
                     const LayerGeometry& geometry, const ChannelGrid& grid,
                     int8_t* q, ChannelStats& stats) {
  const int64_t size = geometry.channel_size();
  const int64_t kernel_size = geometry.kernel_size;
  ChannelState s(size);
  for (int64_t i = 0; i < size; ++i) {
    s.x[i] = GridPosition(grid, options.grid, w[i]);
  }
  ElementStage(grid, s);

  const bool kernel_stage = kernel_size > 1 && (options.mode == Mode::kSquant ||
                                                options.mode == Mode::kSquantK);
  const bool channel_stage =
      options.mode == Mode::kSquant || options.mode == Mode::kSquantC;
  if (kernel_stage) {
    for (int64_t begin = 0; begin < size; begin += kernel_size) {
      KernelStage(begin, kernel_size, s);
    }
  }
  const std::vector<float> r_after_kernels = s.r;
  if (channel_stage) ChannelStage(kernel_size, s);

  stats = ChannelStats{};
  const double scale = grid.scale;
  std::vector<double> kernels_before, kernels_after;
  for (int64_t begin = 0; begin < size; begin += kernel_size) {
    double kernel_before = 0, kernel_after = 0;
    for (int64_t i = begin; i < begin + kernel_size; ++i) {
      const float rtn = std::clamp(s.r0[i], grid.t_min, grid.t_max);
      const float final_value = std::clamp(s.r[i], grid.t_min, grid.t_max);
      q[i] = static_cast<int8_t>(final_value);
      stats.kernel_flips += r_after_kernels[i] != s.r0[i];
      stats.channel_flips += s.r[i] != r_after_kernels[i];
      stats.clamped += final_value != s.r[i];
      const double error_rtn = static_cast<double>(rtn) - s.x[i];
      const double error = static_cast<double>(final_value) - s.x[i];
      kernel_before += error_rtn;
      kernel_after += error;
      stats.squared_error_rtn += Square(scale * error_rtn);
      stats.squared_error_squant += Square(scale * error);
    }
    kernels_before.push_back(kernel_before);
    kernels_after.push_back(kernel_after);
    stats.max_kernel_error_sum_before =
        std::max(stats.max_kernel_error_sum_before, std::fabs(kernel_before));
    stats.max_kernel_error_sum_after =
        std::max(stats.max_kernel_error_sum_after, std::fabs(kernel_after));
  }
  // In the order of the decisions' channel sums (error_sum.h).
  const int64_t kernels = size / kernel_size;
  stats.channel_error_sum_before =
      std::fabs(FoldKernelSums(kernels_before.data(), kernels));
  stats.channel_error_sum_after =
      std::fabs(FoldKernelSums(kernels_after.data(), kernels));
}

}  // namespace

absl::Status QuantizeChannelsReference(const WeightTensor& weights,
                                       const LayerGeometry& geometry,
                                       int64_t first_channel,
                                       int64_t last_channel,
                                       QuantizedLayer& out) {
  const QuantOptions& options = out.options;
  const int64_t size = geometry.channel_size();
  std::vector<float> w(size);
  for (int64_t m = first_channel; m < last_channel; ++m) {
    absl::Status status = LoadInputRow(weights, m, size, w.data());
    if (!status.ok()) return status;
    const ChannelGrid grid = ChannelGridOf(w.data(), size, options);
    out.scale[m] = grid.scale;
    out.zero_point[m] = grid.zero_point;
    int8_t* q = out.values.data() + m * size;
    if (grid.degenerate) {
      QuantizeDegenerateChannel(grid, w, q, out.channel_stats[m]);
    } else {
      QuantizeChannel(w, options, geometry, grid, q, out.channel_stats[m]);
    }
  }
  return absl::OkStatus();
}

}  // namespace squant
