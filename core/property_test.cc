// SQUANT.md's invariants on many random tensors, through the public entry
// point (the fast path), with x recomputed from the documented grid.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/channel_grid.h"
#include "core/squant.h"
#include "gtest/gtest.h"

namespace squant {
namespace {

enum class Distribution { kNormal, kUniform, kLaplace, kOutliers };

std::vector<float> RandomWeights(int64_t count, Distribution distribution,
                                 uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::uniform_real_distribution<float> uniform(-0.1f, 0.1f);
  std::exponential_distribution<float> exponential(30.0f);
  std::vector<float> w(count);
  for (float& v : w) {
    switch (distribution) {
      case Distribution::kNormal:
        v = normal(rng);
        break;
      case Distribution::kUniform:
        v = uniform(rng);
        break;
      case Distribution::kLaplace:
        v = (rng() & 1 ? 1.0f : -1.0f) * exponential(rng);
        break;
      case Distribution::kOutliers:
        v = normal(rng) * ((rng() % 97 == 0) ? 40.0f : 1.0f);
        break;
    }
  }
  return w;
}

WeightTensor F32Tensor(const std::vector<int64_t>& shape,
                       const std::vector<float>& values) {
  return WeightTensor{
      DType::kF32, shape,
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(values.data()),
                          values.size() * sizeof(float))};
}

// The element positions x of one channel, as SQUANT.md section 1 defines.
std::vector<float> GridPositions(const float* w, int64_t size,
                                 const QuantOptions& options,
                                 ChannelGrid* grid) {
  *grid = ChannelGridOf(w, size, options);
  std::vector<float> x(size);
  for (int64_t i = 0; i < size; ++i) {
    x[i] = GridPosition(*grid, options.grid, w[i]);
  }
  return x;
}

// The golden README's predicate for a group where neither clamping nor a
// wasted pick can intervene: every rint(x) in range, and per flip unit (a
// kernel when the kernel stage ran, else the whole group) at most one
// element stuck at each edge.
bool IsClean(const std::vector<float>& x, int64_t flip_unit,
             const ChannelGrid& grid) {
  for (size_t begin = 0; begin < x.size(); begin += flip_unit) {
    int stuck_up = 0, stuck_down = 0;
    for (size_t i = begin; i < begin + flip_unit; ++i) {
      const float r = std::nearbyint(x[i]);
      if (r < grid.t_min || r > grid.t_max) return false;
      stuck_up += x[i] >= grid.t_max && r - x[i] < 0;
      stuck_down += x[i] <= grid.t_min && r - x[i] > 0;
    }
    if (stuck_up > 1 || stuck_down > 1) return false;
  }
  return true;
}

struct Shape {
  std::vector<int64_t> dims;
  int64_t kernel_size() const {
    int64_t k = 1;
    for (size_t d = 2; d < dims.size(); ++d) k *= dims[d];
    return k;
  }
  int64_t elements() const { return dims[0] * dims[1] * kernel_size(); }
};

const std::vector<Shape>& TestShapes() {
  static const auto* shapes = new std::vector<Shape>{
      {{32, 16, 3, 3}}, {{16, 3, 7, 7}},  {{24, 1, 3, 3}}, {{64, 32, 1, 1}},
      {{40, 96}},       {{1, 200, 3, 3}}, {{9, 5, 5}},     {{7, 6, 2, 2, 2}}};
  return *shapes;
}

struct Sweep {
  int64_t groups = 0;        // kernels or channels checked
  int64_t clean_groups = 0;  // of which satisfy IsClean
};

// Runs `check(options, w, layer, channel, x, grid)` for every channel of
// every shape x distribution x bits x grid combination in `mode`.
template <typename Check>
void ForEachChannel(Mode mode, Check check) {
  uint32_t seed = 1;
  for (const Shape& shape : TestShapes()) {
    for (Distribution distribution :
         {Distribution::kNormal, Distribution::kUniform, Distribution::kLaplace,
          Distribution::kOutliers}) {
      const std::vector<float> w =
          RandomWeights(shape.elements(), distribution, seed++);
      for (int bits = kMinBits; bits <= kMaxBits; ++bits) {
        for (Grid grid_kind : {Grid::kAsymmetric, Grid::kSymmetric}) {
          const QuantOptions options{bits, mode, grid_kind};
          absl::StatusOr<QuantizedLayer> layer =
              Quantize(F32Tensor(shape.dims, w), options);
          ASSERT_TRUE(layer.ok()) << layer.status();
          const int64_t row = layer->geometry.channel_size();
          for (int64_t m = 0; m < layer->geometry.channels; ++m) {
            ChannelGrid grid;
            const std::vector<float> x =
                GridPositions(w.data() + m * row, row, options, &grid);
            SCOPED_TRACE(absl::StrCat("shape [", absl::StrJoin(shape.dims, ","),
                                      "] bits ", bits, " grid ",
                                      GridName(grid_kind), " channel ", m));
            check(options, *layer, m, x, grid);
          }
        }
      }
    }
  }
}

TEST(PropertyTest, ValuesStayInRangeAndWithinOneOfX) {
  for (Mode mode :
       {Mode::kSquant, Mode::kSquantK, Mode::kSquantC, Mode::kSquantE}) {
    ForEachChannel(
        mode,
        [](const QuantOptions& options, const QuantizedLayer& layer, int64_t m,
           const std::vector<float>& x, const ChannelGrid& grid) {
          const int8_t* q = layer.values.data() + m * x.size();
          for (size_t i = 0; i < x.size(); ++i) {
            ASSERT_GE(q[i], GridMin(options));
            ASSERT_LE(q[i], GridMax(options));
            if (!grid.degenerate && x[i] >= grid.t_min - 0.5f &&
                x[i] <= grid.t_max + 0.5f) {
              ASSERT_LT(std::fabs(q[i] - x[i]), 1.0f) << "element " << i;
            }
          }
        });
  }
}

TEST(PropertyTest, ElementModeIsRoundToNearest) {
  ForEachChannel(Mode::kSquantE,
                 [](const QuantOptions&, const QuantizedLayer& layer, int64_t m,
                    const std::vector<float>& x, const ChannelGrid& grid) {
                   if (grid.degenerate) return;
                   const int8_t* q = layer.values.data() + m * x.size();
                   for (size_t i = 0; i < x.size(); ++i) {
                     const float rtn = std::clamp(std::nearbyint(x[i]),
                                                  grid.t_min, grid.t_max);
                     ASSERT_EQ(q[i], static_cast<int8_t>(rtn))
                         << "element " << i;
                   }
                 });
}

TEST(PropertyTest, SymmetricRoundToNearestIsOnnxQuantizeLinear) {
  const std::vector<float> w = RandomWeights(64 * 27, Distribution::kNormal, 7);
  const std::vector<int64_t> shape = {64, 3, 3, 3};
  for (int bits = kMinBits; bits <= kMaxBits; ++bits) {
    absl::StatusOr<QuantizedLayer> layer =
        Quantize(F32Tensor(shape, w),
                 QuantOptions{bits, Mode::kSquantE, Grid::kSymmetric});
    ASSERT_TRUE(layer.ok()) << layer.status();
    const float q_max = std::ldexp(1.0f, bits - 1) - 1;
    for (int64_t m = 0; m < 64; ++m) {
      float max_abs = 0;
      for (int64_t i = 0; i < 27; ++i)
        max_abs = std::max(max_abs, std::fabs(w[m * 27 + i]));
      // ONNX QuantizeLinear: saturate(round_half_even(w / scale) + 0).
      const float scale = max_abs / q_max;
      ASSERT_EQ(layer->scale[m], scale);
      ASSERT_EQ(layer->zero_point[m], 0);
      for (int64_t i = 0; i < 27; ++i) {
        const float expected =
            std::clamp(std::nearbyint(w[m * 27 + i] / scale), -q_max, q_max);
        ASSERT_EQ(layer->values[m * 27 + i], static_cast<int8_t>(expected));
      }
    }
  }
}

// |sum of (q - x)| over each clean group stays within 0.5.
void ExpectBalancedGroups(Mode mode, bool per_kernel) {
  Sweep sweep;
  ForEachChannel(
      mode, [&](const QuantOptions&, const QuantizedLayer& layer, int64_t m,
                const std::vector<float>& x, const ChannelGrid& grid) {
        if (grid.degenerate) return;
        const int64_t kernel_size = layer.geometry.kernel_size;
        const int64_t group = per_kernel ? kernel_size : x.size();
        if (per_kernel && kernel_size == 1) return;
        const bool kernel_stage_ran = kernel_size > 1 && mode != Mode::kSquantC;
        const int64_t flip_unit = kernel_stage_ran ? kernel_size : group;
        const int8_t* q = layer.values.data() + m * x.size();
        for (size_t begin = 0; begin < x.size(); begin += group) {
          ++sweep.groups;
          const std::vector<float> group_x(x.begin() + begin,
                                           x.begin() + begin + group);
          if (!IsClean(group_x, flip_unit, grid)) continue;
          ++sweep.clean_groups;
          double sum = 0;
          for (size_t i = begin; i < begin + group; ++i)
            sum += q[i] - double{x[i]};
          ASSERT_LE(std::fabs(sum), 0.5 + 1e-4) << "group at " << begin;
        }
      });
  // The property must have been exercised, not vacuously true.
  EXPECT_GT(sweep.clean_groups, sweep.groups / 2);
}

TEST(PropertyTest, SquantBalancesEveryCleanChannel) {
  ExpectBalancedGroups(Mode::kSquant, /*per_kernel=*/false);
}

TEST(PropertyTest, SquantCBalancesEveryCleanChannel) {
  ExpectBalancedGroups(Mode::kSquantC, /*per_kernel=*/false);
}

TEST(PropertyTest, SquantKBalancesEveryCleanKernel) {
  ExpectBalancedGroups(Mode::kSquantK, /*per_kernel=*/true);
}

TEST(PropertyTest, SquantBeatsRoundToNearestOnChannelSums) {
  const std::vector<float> w =
      RandomWeights(64 * 64 * 9, Distribution::kNormal, 11);
  const std::vector<int64_t> shape = {64, 64, 3, 3};
  absl::StatusOr<QuantizedLayer> layer =
      Quantize(F32Tensor(shape, w), QuantOptions{4, Mode::kSquant});
  ASSERT_TRUE(layer.ok()) << layer.status();
  const LayerStats& stats = layer->stats;
  EXPECT_EQ(stats.elements, 64 * 64 * 9);
  EXPECT_GT(stats.kernel_flips, 0);
  EXPECT_LE(stats.max_channel_error_sum_after, 0.5 + 1e-4);
  EXPECT_GT(stats.max_channel_error_sum_before, 1.0);
  EXPECT_LT(stats.max_kernel_error_sum_after,
            stats.max_kernel_error_sum_before);
  // SQuant moves each element at most one step more than rounding does, so
  // its element-wise MSE is somewhat higher: what it buys is the sums.
  EXPECT_GT(stats.mse_squant, stats.mse_rtn);
  EXPECT_LT(stats.mse_squant, 3 * stats.mse_rtn);
}

TEST(PropertyTest, StatsMseMatchesDequantizedWeights) {
  const std::vector<float> w =
      RandomWeights(32 * 16 * 9, Distribution::kLaplace, 5);
  const std::vector<int64_t> shape = {32, 16, 3, 3};
  for (Grid grid : {Grid::kAsymmetric, Grid::kSymmetric}) {
    absl::StatusOr<QuantizedLayer> layer =
        Quantize(F32Tensor(shape, w), QuantOptions{3, Mode::kSquant, grid});
    ASSERT_TRUE(layer.ok()) << layer.status();
    double squared_error = 0;
    const int64_t row = layer->geometry.channel_size();
    for (int64_t i = 0; i < static_cast<int64_t>(w.size()); ++i) {
      const int64_t m = i / row;
      const double dequantized =
          double{layer->scale[m]} * (layer->values[i] - layer->zero_point[m]);
      squared_error += (dequantized - w[i]) * (dequantized - w[i]);
    }
    const double mse = squared_error / w.size();
    EXPECT_NEAR(layer->stats.mse_squant, mse, 1e-3 * mse);
  }
}

TEST(PropertyTest, EdgeMagnitudesAndConstantChannels) {
  // Channel 0 constant, 1 all zeros, 2 tiny (subnormal-adjacent), 3 huge,
  // 4 a single large outlier, 5 near-constant (degenerate rule).
  const int64_t row = 18;
  std::vector<float> w(6 * row);
  for (int64_t i = 0; i < row; ++i) {
    w[0 * row + i] = 0.75f;
    w[1 * row + i] = 0.0f;
    w[2 * row + i] = 1e-30f * static_cast<float>(i - 9);
    w[3 * row + i] = 1e30f * static_cast<float>(i - 9);
    w[4 * row + i] = i == 5 ? 1e6f : 1e-3f * static_cast<float>(i);
    w[5 * row + i] = 1000.0f + (i % 2) * 6.1e-5f;
  }
  const std::vector<int64_t> shape = {6, 2, 3, 3};
  for (int bits : {2, 4, 8}) {
    for (Grid grid : {Grid::kAsymmetric, Grid::kSymmetric}) {
      for (int threads : {1, 4}) {
        absl::StatusOr<QuantizedLayer> layer =
            Quantize(F32Tensor(shape, w),
                     QuantOptions{bits, Mode::kSquant, grid}, threads);
        ASSERT_TRUE(layer.ok()) << layer.status();
        for (int64_t i = 0; i < 6 * row; ++i) {
          const int64_t m = i / row;
          if (m == 1) {  // all zeros: a tiny step, still exact
            ASSERT_EQ(layer->values[i] - layer->zero_point[m], 0);
          }
          ASSERT_TRUE(std::isfinite(layer->scale[m]) && layer->scale[m] > 0)
              << "channel " << m;
          const double dequantized = double{layer->scale[m]} *
                                     (layer->values[i] - layer->zero_point[m]);
          // Every channel reconstructs within one step of its grid.
          ASSERT_LE(std::fabs(dequantized - w[i]),
                    1.0001 * layer->scale[m] + 1e-6 * std::fabs(w[i]))
              << "bits " << bits << " grid " << GridName(grid) << " element "
              << i;
        }
        if (grid == Grid::kAsymmetric) {
          EXPECT_EQ(layer->scale[0], 0.75f);  // constant: the degenerate rule
          EXPECT_EQ(layer->values[0], 1);
          EXPECT_EQ(layer->stats.degenerate_channels, 2);  // channels 0 and 5
        }
      }
    }
  }
}

TEST(PropertyTest, SameBytesWhateverTheThreadCount) {
  const std::vector<float> w =
      RandomWeights(37 * 8 * 9, Distribution::kOutliers, 3);
  const std::vector<int64_t> shape = {37, 8, 3, 3};
  absl::StatusOr<QuantizedLayer> one = Quantize(F32Tensor(shape, w), {}, 1);
  ASSERT_TRUE(one.ok());
  for (int threads : {2, 3, 5, 37, 64}) {
    absl::StatusOr<QuantizedLayer> many =
        Quantize(F32Tensor(shape, w), {}, threads);
    ASSERT_TRUE(many.ok());
    EXPECT_EQ(many->values, one->values) << threads;
    EXPECT_EQ(many->scale, one->scale) << threads;
    EXPECT_EQ(many->zero_point, one->zero_point) << threads;
    EXPECT_EQ(many->stats.mse_squant, one->stats.mse_squant) << threads;
  }
}

}  // namespace
}  // namespace squant
