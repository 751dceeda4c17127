// Per-target: the channel stage (SQUANT.md section 4) as a top-n selection.
// Only priorities at or above a threshold are collected and ranked; the
// threshold is found with counting passes, which are cheap SIMD compares.
// Priorities carry their direction in their sign (negative: up), so one
// array serves both directions.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "core/channel_grid.h"
#include "core/error_sum.h"
#include "core/fast/compress_table.h"
#include "core/fast/mask_bits-inl.h"
#include "core/fast/moves.h"
#include "core/fast/scratch.h"

#if defined(SQUANT_CORE_FAST_CHANNEL_STAGE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SQUANT_CORE_FAST_CHANNEL_STAGE_INL_H_
#undef SQUANT_CORE_FAST_CHANNEL_STAGE_INL_H_
#else
#define SQUANT_CORE_FAST_CHANNEL_STAGE_INL_H_
#endif

#include "hwy/highway.h"

// HWY_SCALAR (x86-64 without SSSE3) has no half vectors; it uses the
// reference implementation (quantize_fast.cc).
#if HWY_TARGET != HWY_SCALAR
HWY_BEFORE_NAMESPACE();
namespace squant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// FoldKernelSums (error_sum.h) with its 16 double lanes held in vectors;
// sums[kernels..RoundUp(kernels, 16)) must be 0.
inline double FoldKernelSumsSimd(const double* HWY_RESTRICT sums,
                                 size_t kernels) {
  const hn::ScalableTag<double> dd;
  constexpr size_t kLanes = hn::MaxLanes(dd);
  static_assert(kChannelSumLanes % kLanes == 0);
  constexpr size_t kVectors = kChannelSumLanes / kLanes;
  hn::Vec<decltype(dd)> lanes[kVectors];
  for (size_t v = 0; v < kVectors; ++v) lanes[v] = hn::Zero(dd);
  for (size_t i = 0; i < kernels; i += kChannelSumLanes) {
    for (size_t v = 0; v < kVectors; ++v) {
      lanes[v] = hn::Add(lanes[v], hn::LoadU(dd, sums + i + v * kLanes));
    }
  }
  alignas(64) double folded[kChannelSumLanes];
  for (size_t v = 0; v < kVectors; ++v) {
    hn::Store(lanes[v], dd, folded + v * kLanes);
  }
  // Each lane holds its own sum: folding them as 16 "kernels" adds 0 to
  // each, which is exact.
  return FoldKernelSums(folded, kChannelSumLanes);
}

// The priorities for direction up in signed_priority[0..count): p = -v
// for up, v for down; only p > 0 counts. Counts those >= threshold (> 0),
// and finds the largest, in one pass of compares.
template <bool kUp>
HWY_NOINLINE size_t CountAtLeast(const float* HWY_RESTRICT v, size_t count,
                                 float threshold, float* largest) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const auto t = hn::Set(df, kUp ? -threshold : threshold);
  auto extreme = hn::Zero(df);
  auto found = hn::Zero(di);  // -1 per hit, per lane
  for (size_t i = 0; i < count; i += hn::Lanes(df)) {
    const auto vi = hn::Load(df, v + i);
    extreme = kUp ? hn::Min(extreme, vi) : hn::Max(extreme, vi);
    found = hn::Add(
        found, hn::BitCast(di, hn::VecFromMask(
                                   df, kUp ? hn::Le(vi, t) : hn::Ge(vi, t))));
  }
  *largest = kUp ? -hn::GetLane(hn::MinOfLanes(df, extreme))
                 : hn::GetLane(hn::MaxOfLanes(df, extreme));
  return static_cast<size_t>(-hn::GetLane(hn::SumOfLanes(di, found)));
}

inline size_t CountAtLeast(const float* HWY_RESTRICT v, size_t count, bool up,
                           float threshold, float* largest) {
  return up ? CountAtLeast<true>(v, count, threshold, largest)
            : CountAtLeast<false>(v, count, threshold, largest);
}

// Writes the positions of v[0..count) (count a whole number of vectors)
// whose priority for direction up is >= threshold into positions[0..) in
// increasing order and returns how many; writes up to a vector past them.
// Hits are few but scattered: on 8 lanes a static compress table makes
// the loop free of branches (they mispredicted on most hits); otherwise
// one branch tests four vectors.
template <bool kUp>
HWY_NOINLINE size_t CollectAtLeast(const float* HWY_RESTRICT v, size_t count,
                                   float threshold,
                                   int32_t* HWY_RESTRICT positions) {
  const hn::ScalableTag<float> df;
  const size_t lanes = hn::Lanes(df);
  const auto t = hn::Set(df, kUp ? -threshold : threshold);
  auto hit = [&](size_t i) {
    const auto vi = hn::Load(df, v + i);
    return kUp ? hn::Le(vi, t) : hn::Ge(vi, t);
  };
  size_t collected = 0;
  if constexpr (hn::MaxLanes(df) == 8) {
    const hn::RebindToSigned<decltype(df)> di;
    auto index = hn::Iota(di, 0);
    for (size_t i = 0; i < count; i += 8) {
      const uint64_t bits = MaskBits(df, hit(i));
      const auto order = hn::Load(di, kCompressTable8.lanes[bits]);
      hn::StoreU(hn::TableLookupLanes(index, hn::IndicesFromVec(di, order)), di,
                 positions + collected);
      collected += hwy::PopCount(bits);
      index = hn::Add(index, hn::Set(di, 8));
    }
    return collected;
  }
  auto collect = [&](size_t i) {
    uint64_t keep = MaskBits(df, hit(i));
    while (keep != 0) {
      positions[collected++] = static_cast<int32_t>(i + PopLowestBit(keep));
    }
  };
  size_t i = 0;
  for (; i + 4 * lanes <= count; i += 4 * lanes) {
    const auto any = hn::Or(hn::Or(hit(i), hit(i + lanes)),
                            hn::Or(hit(i + 2 * lanes), hit(i + 3 * lanes)));
    if (HWY_LIKELY(hn::AllFalse(df, any))) continue;
    for (size_t b = i; b < i + 4 * lanes; b += lanes) collect(b);
  }
  for (; i < count; i += lanes) collect(i);
  return collected;
}

inline size_t CollectAtLeast(const float* HWY_RESTRICT v, size_t count, bool up,
                             float threshold, int32_t* HWY_RESTRICT positions) {
  return up ? CollectAtLeast<true>(v, count, threshold, positions)
            : CollectAtLeast<false>(v, count, threshold, positions);
}

// Selections of up to this many keys rank them by counting, kRankBlock
// keys at a time.
inline constexpr size_t kRankedKeys = 64;
inline constexpr size_t kRankBlock = 16;

// A selection's order as one integer: by priority (>= 0), then by lower
// position. A non-negative float's bits order as the float does.
inline uint64_t SelectionKey(float priority, int32_t position) {
  uint32_t bits;
  std::memcpy(&bits, &priority, sizeof(bits));
  return (uint64_t{bits} << 32) |
         (0xffffffffu - static_cast<uint32_t>(position));
}

// The position a selection key holds in its low half.
inline int32_t KeyPosition(uint64_t key) {
  return static_cast<int32_t>(0xffffffffu - (key & 0xffffffffu));
}

// Writes the positions of the n largest of keys[0..count) (distinct,
// count <= kRankedKeys) into positions[0..n) in the keys' order, by
// counting for each key the larger ones: no mispredicted branches, as a
// selection would have. Keys are below 2^63, so they compare as signed.
// Returns the key of rank `aim` (0: the largest), or 0 if count <= aim.
inline uint64_t KeepLargestKeys(std::vector<uint64_t>& keys, size_t count,
                                size_t n, size_t aim,
                                int32_t* HWY_RESTRICT positions) {
  const hn::ScalableTag<int64_t> d64;
  // A block of keys at a time, in registers: independent counts, not one
  // chain of dependent adds.
  constexpr size_t kLanes = hn::MaxLanes(d64);
  constexpr size_t kVectors = kRankBlock / kLanes;
  static_assert(kRankedKeys % kRankBlock == 0);
  // Zero keys pad the last block: no key is smaller.
  keys.resize(RoundUp(count, kRankBlock), 0);
  const int64_t* HWY_RESTRICT key =
      reinterpret_cast<const int64_t*>(keys.data());
  alignas(64) int64_t larger[kRankedKeys];
  for (size_t c = 0; c < count; c += kRankBlock) {
    hn::Vec<decltype(d64)> block[kVectors], larger_than[kVectors];
    for (size_t v = 0; v < kVectors; ++v) {
      block[v] = hn::LoadU(d64, key + c + v * kLanes);
      larger_than[v] = hn::Zero(d64);  // -1 per larger key
    }
    for (size_t d = 0; d < count; ++d) {
      const auto other = hn::Set(d64, key[d]);
      for (size_t v = 0; v < kVectors; ++v) {
        larger_than[v] = hn::Add(larger_than[v],
                                 hn::VecFromMask(d64, hn::Gt(other, block[v])));
      }
    }
    for (size_t v = 0; v < kVectors; ++v) {
      hn::Store(hn::Neg(larger_than[v]), d64, larger + c + v * kLanes);
    }
  }
  size_t selected = 0;
  uint64_t aimed = 0;
  for (size_t c = 0; c < count; ++c) {
    positions[selected] = KeyPosition(keys[c]);
    selected += static_cast<size_t>(larger[c]) < n;
    aimed = static_cast<size_t>(larger[c]) == aim ? keys[c] : aimed;
  }
  return aimed;
}

// What SelectLargest found.
struct Selection {
  size_t count = 0;  // positions written
  // A threshold for the next selection of a similar spread: the one
  // collected at, or, where that collected many more than n, the priority
  // that would have left about one block of KeepLargestKeys.
  float threshold = 0;
};

// Positions of the min(n, #positive) largest positive priorities (as
// above) of v[0..count), count a whole number of vectors, ties to the lower
// position, into positions[0..returned) in increasing order.
// `guess`, if positive, is a threshold likely to leave a few more than n
// above it: one pass then does, and counting passes narrow the threshold
// only when it misses.
inline Selection SelectLargest(const float* HWY_RESTRICT v, size_t count,
                               bool up, size_t n, float guess,
                               int32_t* HWY_RESTRICT positions,
                               std::vector<uint64_t>& keys) {
  const size_t target = n + 8;
  const size_t cap = n + 32;
  Selection selection;
  if (guess > 0) {
    selection.count = CollectAtLeast(v, count, up, guess, positions);
    selection.threshold = guess;
  }
  if (guess <= 0 || selection.count < n || selection.count > 4 * cap) {
    float max_priority;
    // Priorities are never negative: ">= the smallest positive float" is
    // "positive".
    float at_least = std::numeric_limits<float>::denorm_min();
    const size_t positive = CountAtLeast(v, count, up, at_least, &max_priority);
    // Aim for a few more than n above the threshold, guessing from a
    // uniform spread below the largest, then narrow the bracket.
    if (positive > cap) {
      size_t enough = positive;
      float too_high = std::numeric_limits<float>::infinity();
      double fraction = static_cast<double>(target) / positive;
      for (int attempt = 0; attempt < 8 && enough > cap; ++attempt) {
        float t = static_cast<float>(max_priority * (1.0 - fraction));
        if (!(t > at_least && t < too_high)) {
          t = std::isinf(too_high) ? max_priority : (at_least + too_high) / 2;
          if (!(t > at_least && t < too_high)) break;
        }
        float unused;
        const size_t found = CountAtLeast(v, count, up, t, &unused);
        if (found >= n) {
          at_least = t;
          enough = found;
          fraction *= static_cast<double>(target) / found;
        } else {
          too_high = t;
          fraction *= 2.0 * target / std::max<size_t>(found, 1);
        }
        fraction = std::min(fraction, 1.0);
      }
    }
    selection.count = CollectAtLeast(v, count, up, at_least, positions);
    selection.threshold = at_least;
  }
  if (selection.count > n) {
    const float sign = up ? -1.0f : 1.0f;
    keys.resize(selection.count);
    for (size_t c = 0; c < selection.count; ++c) {
      keys[c] = SelectionKey(sign * v[positions[c]], positions[c]);
    }
    // The keys are distinct: the n largest are a well-defined set.
    if (selection.count <= kRankedKeys) {
      const uint64_t aimed = KeepLargestKeys(
          keys, selection.count, n, std::max(kRankBlock, target), positions);
      if (aimed != 0) {
        const uint32_t bits = static_cast<uint32_t>(aimed >> 32);
        std::memcpy(&selection.threshold, &bits, sizeof(bits));
      }
    } else {
      std::nth_element(keys.begin(), keys.begin() + (n - 1), keys.end(),
                       std::greater<uint64_t>());
      for (size_t c = 0; c < n; ++c) positions[c] = KeyPosition(keys[c]);
      // In increasing order, as above: the order the flips are tallied in
      // must not depend on which threshold collected them.
      std::sort(positions, positions + n);
    }
    selection.count = n;
  }
  return selection;
}

// The channel stage, given the sum of the errors after the kernel stage.
// Applies its flips as moves, lists them in s.picks and marks their kernels
// dirty.
inline void ChannelStage(bool after_kernel_stage, double sum,
                         const ChannelGrid& grid, ChannelScratch& s,
                         MoveTally& tally) {
  s.picks.clear();
  const bool up = sum < 0;
  const size_t n = static_cast<size_t>(std::nearbyint(std::fabs(sum)));
  if (n == 0) return;
  const hn::ScalableTag<float> df;
  const size_t k = s.kernel_size;
  // After the kernel stage only each kernel's candidate has a priority.
  const float* priority =
      after_kernel_stage ? s.candidate_priority.get() : s.signed_priority.get();
  const size_t count =
      after_kernel_stage ? s.padded_kernels : RoundUp(s.size, hn::Lanes(df));
  int32_t* positions = s.positions.get();
  // Without a kernel stage the priorities are |e0| on one side, about
  // uniform in (0, 0.5] over half the elements: aim for n + 4 above.
  // After it, the candidates' spread is alike from channel to channel of a
  // layer: start from the previous channel's threshold.
  const float guess =
      after_kernel_stage
          ? s.previous_threshold
          : static_cast<float>(0.5 * (1.0 - 2.0 * (n + 4) / count));
  const Selection selection =
      SelectLargest(priority, count, up, n, guess, positions, s.keys);
  s.previous_threshold = selection.threshold;
  // Inlined: called out of line it made 1x1 layers 10% slower.
  auto flip = [&](int32_t i) __attribute__((always_inline)) {
    s.picks.push_back(i);
    const float x = s.X(i);
    const float e0 = std::nearbyint(x) - x;
    const float old_move = s.Move(i, x);
    const int8_t move = FlipMove(up, x, e0, grid);
    if (SetMove(i, x, old_move, move, grid, s, tally)) {
      ++tally.channel_flips;
      s.dirty[i / k] = 1;
      s.kernel_after[i / k] += move - old_move;
    }
  };
  for (size_t p = 0; p < selection.count; ++p) {
    flip(after_kernel_stage ? s.candidate[positions[p]] : positions[p]);
  }
  // Fewer positive priorities than n: the order continues with the
  // zero-priority elements by index, and they are flipped ("wasted picks"
  // included) all the same. (Flips change no priority or candidate.)
  auto has_priority = [&](size_t i) {
    const size_t at = after_kernel_stage ? i / k : i;
    const float p = up ? -priority[at] : priority[at];
    return p > 0 &&
           (!after_kernel_stage || static_cast<size_t>(s.candidate[at]) == i);
  };
  for (size_t i = 0; i < s.size && s.picks.size() < n; ++i) {
    if (!has_priority(i)) flip(static_cast<int32_t>(i));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace squant
HWY_AFTER_NAMESPACE();
#endif  // HWY_TARGET != HWY_SCALAR

#endif  // SQUANT_CORE_FAST_CHANNEL_STAGE_INL_H_
