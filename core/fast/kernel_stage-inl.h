// Per-target: the kernel stage (SQUANT.md section 3), one kernel per SIMD
// lane. Also computes, for the statistics, each kernel's sum of
// round-to-nearest errors and of errors after the stage, in the reference's
// order (sequential in double), so that they come out bit for bit.

#include <cstddef>
#include <cstdint>

#include "core/channel_grid.h"
#include "core/fast/scratch.h"

#if defined(SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_
#undef SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_
#else
#define SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_
#endif

#include "hwy/highway.h"

// HWY_SCALAR (x86-64 without SSSE3) has no half vectors; it uses the
// reference implementation (quantize_fast.cc).
#if HWY_TARGET != HWY_SCALAR
HWY_BEFORE_NAMESPACE();
namespace squant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Kernels up to this size are ranked lane-wise here; larger ones are sorted
// one at a time (large_kernel.h). Loops over a kernel unroll by 16, fully
// for 3x3, so that its per-element arrays stay in registers.
inline constexpr size_t kMaxLaneKernel = 64;

// Processes all kernels of the channel (s.e holds e0 = rint(x) - x),
// Lanes(df) kernels at a time. Writes each kernel's sum of e0 (sequential in
// double: the decision sum and, without clamping, the statistics' sum of RTN
// errors). With kDecide, runs the kernel stage: records its flips in s.e
// as whole vectors (KernelMoves then derives moves, q and the tally in
// memory order), and writes each kernel's channel-stage candidate and its
// sum of errors after the stage; without, after = before.
//
// Ranking is branch-free: the rank of element j in the chosen order is the
// number of elements with a higher priority, or an equal one and a lower
// index; j is flipped iff rank < n, and order[n-1], order[n] and order[K-1]
// are the elements of those ranks.
//
// An element can flip toward the sign of -e0 unless it sits at the grid's
// edge; groups of kernels with such an element (s.blocked_groups) take
// their priorities from x as well.
//
// The sum after is before + (sum of moves): each error is exactly e0 + move
// in double, and while every |x| >= 2^-23 (or 0) all these sums are exact,
// so that any order gives the reference's sequential sum. Channels with a
// smaller x have their kernels recomputed element by element.
template <size_t kFixedK, bool kDecide>
HWY_NOINLINE void KernelGroups(size_t runtime_k, const ChannelGrid& grid,
                               ChannelScratch& s) {
  constexpr size_t kCapacity = kFixedK != 0 ? kFixedK : kMaxLaneKernel;
  const size_t k = kFixedK != 0 ? kFixedK : runtime_k;
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Repartition<double, decltype(df)> dd;
  const hn::Half<decltype(df)> dh;
  using VF = hn::Vec<decltype(df)>;
  using VI = hn::Vec<decltype(di)>;
  const size_t lanes = hn::Lanes(df);
  const size_t half = hn::Lanes(dd);

  const VF zero = hn::Zero(df);
  const VF one = hn::Set(df, 1.0f);
  const VF t_min = hn::Set(df, grid.t_min);
  const VF t_max = hn::Set(df, grid.t_max);
  const auto one_d = hn::Set(dd, 1.0);
  // Offset of each lane's kernel from the group's first element.
  const VI lane_offset =
      hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(k)));

  // The priority of e0 in the direction whose sign bit is up_sign: |e0| if
  // e0 points the other way, else 0. Right unless the element sits at the
  // grid's edge, where edge_priority_of also asks x.
  auto priority_of = [&](VF e0, VF up_sign) {
    return hn::Max(hn::Xor(e0, up_sign), zero);
  };
  auto edge_priority_of = [&](VF e0, VF x, decltype(hn::Lt(zero, zero)) up) {
    const auto can_up = hn::And(hn::Lt(e0, zero), hn::Lt(x, t_max));
    const auto can_down = hn::And(hn::Gt(e0, zero), hn::Gt(x, t_min));
    return hn::IfThenElseZero(
        hn::Or(hn::And(up, can_up), hn::AndNot(up, can_down)), hn::Abs(e0));
  };

  // The group's errors, lane-major (element j of lane l at j*lanes + l):
  // e0 until the flips overwrite some, then gathered back into s.e in
  // memory order with s.lane_major_index (cheaper than a scalar scatter).
  alignas(64) float staged[kCapacity * kMaxFloatLanes];
  const int32_t* HWY_RESTRICT lane_major_index = s.lane_major_index.data();
  for (size_t g = 0; g < s.kernels; g += lanes) {
    const float* eg = s.e.get() + g * k;
    VF e0[kCapacity];  // then the priorities
    auto sum_lo = hn::Zero(dd);
    auto sum_hi = hn::Zero(dd);
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      e0[j] = hn::GatherIndex(
          df, eg, hn::Add(lane_offset, hn::Set(di, static_cast<int32_t>(j))));
      sum_lo = hn::Add(sum_lo, hn::PromoteTo(dd, hn::LowerHalf(dh, e0[j])));
      sum_hi = hn::Add(sum_hi, hn::PromoteTo(dd, hn::UpperHalf(dh, e0[j])));
      if (kDecide) hn::Store(e0[j], df, staged + j * lanes);
    }
    hn::Store(sum_lo, dd, s.kernel_before.get() + g);
    hn::Store(sum_hi, dd, s.kernel_before.get() + g + half);
    if (!kDecide) {
      hn::Store(sum_lo, dd, s.kernel_after.get() + g);
      hn::Store(sum_hi, dd, s.kernel_after.get() + g + half);
      continue;
    }

    // Direction, n = rint(|S|) and over = (n >= |S|), in double, then
    // narrowed to float lanes (small integers and flags: exact).
    const auto abs_lo = hn::Abs(sum_lo);
    const auto abs_hi = hn::Abs(sum_hi);
    const auto n_lo = hn::Round(abs_lo);
    const auto n_hi = hn::Round(abs_hi);
    auto narrow = [&](auto lo, auto hi) {
      return hn::Combine(df, hn::DemoteTo(dh, hi), hn::DemoteTo(dh, lo));
    };
    const auto up =
        hn::Gt(narrow(hn::IfThenElseZero(hn::Lt(sum_lo, hn::Zero(dd)), one_d),
                      hn::IfThenElseZero(hn::Lt(sum_hi, hn::Zero(dd)), one_d)),
               zero);
    const auto over =
        hn::Gt(narrow(hn::IfThenElseZero(hn::Ge(n_lo, abs_lo), one_d),
                      hn::IfThenElseZero(hn::Ge(n_hi, abs_hi), one_d)),
               zero);
    const VI n = hn::ConvertTo(di, narrow(n_lo, n_hi));
    const VI candidate_rank = hn::IfThenElse(
        hn::RebindMask(di, over),
        hn::IfThenElse(hn::Gt(n, hn::Zero(di)), hn::Sub(n, hn::Set(di, 1)),
                       hn::Set(di, static_cast<int32_t>(k - 1))),
        n);
    const VF up_sign = hn::IfThenElseZero(up, hn::Set(df, -0.0f));
    const bool at_edge = s.blocked_groups[g / lanes] != 0;

    // Priority in the chosen direction: positive exactly where the element
    // can flip that way. From here on, e0[j] holds it.
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) e0[j] = priority_of(e0[j], up_sign);
    VF* priority = e0;
    if (HWY_UNLIKELY(at_edge)) {
      const float* HWY_RESTRICT xg = s.x.get() + g * k;
      for (size_t j = 0; j < k; ++j) {
        const VI offset =
            hn::Add(lane_offset, hn::Set(di, static_cast<int32_t>(j)));
        priority[j] = edge_priority_of(hn::GatherIndex(df, eg, offset),
                                       hn::GatherIndex(df, xg, offset), up);
      }
    }

    // rank[j] = the number of elements before j in the order: i precedes j
    // iff p[i] > p[j], or p[i] == p[j] and i < j. One compare per pair
    // serves both elements; VecFromMask is -1 where true.
    VI rank[kCapacity];
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      rank[j] = hn::Set(di, static_cast<int32_t>(k - 1 - j));
    }
    HWY_UNROLL(16)
    for (size_t j = 1; j < k; ++j) {
      HWY_UNROLL(16)
      for (size_t i = 0; i < j; ++i) {
        const VI precedes = hn::BitCast(
            di, hn::VecFromMask(df, hn::Ge(priority[i], priority[j])));
        rank[j] = hn::Sub(rank[j], precedes);
        rank[i] = hn::Add(rank[i], precedes);
      }
    }
    const VF direction = hn::IfThenElse(up, one, hn::Neg(one));
    VI candidate = hn::Zero(di);
    VF candidate_priority = zero;
    VI moved = hn::Zero(di);  // elements that flipped and could
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      const auto flipped = hn::Lt(rank[j], n);
      const auto can = hn::Gt(priority[j], zero);
      const auto moves_now = hn::And(flipped, hn::RebindMask(di, can));
      moved = hn::Sub(moved, hn::VecFromMask(di, moves_now));
      const auto selected = hn::Eq(rank[j], candidate_rank);
      candidate = hn::IfThenElse(selected, hn::Set(di, static_cast<int32_t>(j)),
                                 candidate);
      candidate_priority = hn::IfThenElse(hn::RebindMask(df, selected),
                                          priority[j], candidate_priority);
      // A flip records e0 +- 1 where the element can move, else 0.
      float* HWY_RESTRICT staged_j = staged + j * lanes;
      const VF e0_j = hn::Load(df, staged_j);
      hn::Store(hn::IfThenElse(
                    hn::RebindMask(df, flipped),
                    hn::IfThenElseZero(can, hn::Add(e0_j, direction)), e0_j),
                df, staged_j);
    }
    const VF moves = hn::Mul(hn::ConvertTo(df, moved), direction);
    hn::Store(hn::Add(sum_lo, hn::PromoteTo(dd, hn::LowerHalf(dh, moves))), dd,
              s.kernel_after.get() + g);
    hn::Store(hn::Add(sum_hi, hn::PromoteTo(dd, hn::UpperHalf(dh, moves))), dd,
              s.kernel_after.get() + g + half);

    // The candidate's error now: a flip assigned +-(1 - p) if the element
    // could move, else 0; an unflipped one still holds e0 in s.e.
    // Over-flipped kernels offer the opposite direction, and the sign
    // carries it (negative: up).
    const VI candidate_offset = hn::Add(lane_offset, candidate);
    const auto candidate_flipped =
        hn::RebindMask(df, hn::Lt(candidate_rank, n));
    const VF magnitude =
        hn::IfThenElse(candidate_flipped,
                       hn::IfThenElseZero(hn::Gt(candidate_priority, zero),
                                          hn::Sub(one, candidate_priority)),
                       hn::Abs(hn::GatherIndex(df, eg, candidate_offset)));
    hn::Store(
        hn::Add(candidate_offset, hn::Set(di, static_cast<int32_t>(g * k))), di,
        s.candidate.get() + g);
    hn::Store(hn::IfThenElse(hn::Xor(up, over), hn::Neg(magnitude), magnitude),
              df, s.candidate_priority.get() + g);
    float* HWY_RESTRICT e_out = s.e.get() + g * k;
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      hn::Store(hn::GatherIndex(df, staged,
                                hn::LoadU(di, lane_major_index + j * lanes)),
                df, e_out + j * lanes);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace squant
HWY_AFTER_NAMESPACE();
#endif  // HWY_TARGET != HWY_SCALAR

#endif  // SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_
