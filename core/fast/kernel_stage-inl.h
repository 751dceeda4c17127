// Per-target: the kernel stage (SQUANT.md section 3), one kernel per SIMD
// lane, fused with the grid placement before it and the int8 values after
// it, so that a channel's elements are read once and written once. Also
// computes, for the statistics, each kernel's sum of round-to-nearest
// errors and of errors after the stage, in the reference's order
// (sequential in double), so that they come out bit for bit.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/channel_grid.h"
#include "core/fast/flip_masks-inl.h"
#include "core/fast/scratch.h"
#include "core/squant.h"

#if defined(SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_
#undef SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_
#else
#define SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_
#endif

#include "hwy/cache_control.h"
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

// Transposes the 8x8 matrix held in rows[0..8) of 8-lane vectors (the
// usual unpack / 64-bit unpack / 128-bit concatenation sequence): lane j of
// rows[l] becomes lane l of rows[j].
template <class DF>
HWY_INLINE void Transpose8x8(DF df, hn::Vec<DF>* rows) {
  using VF = hn::Vec<DF>;
  const hn::Repartition<double, DF> d64;
  auto lower64 = [&](VF a, VF b) {
    return hn::BitCast(
        df, hn::InterleaveLower(d64, hn::BitCast(d64, a), hn::BitCast(d64, b)));
  };
  auto upper64 = [&](VF a, VF b) {
    return hn::BitCast(
        df, hn::InterleaveUpper(d64, hn::BitCast(d64, a), hn::BitCast(d64, b)));
  };
  VF pairs[8];  // per 128-bit block: r0[0] r1[0] r0[1] r1[1], ...
  for (size_t i = 0; i < 8; i += 2) {
    pairs[i] = hn::InterleaveLower(df, rows[i], rows[i + 1]);
    pairs[i + 1] = hn::InterleaveUpper(df, rows[i], rows[i + 1]);
  }
  VF quads[8];  // quads[4h + c]: columns c and c + 4 of rows 4h..4h+3
  for (size_t h = 0; h < 8; h += 4) {
    quads[h] = lower64(pairs[h], pairs[h + 2]);
    quads[h + 1] = upper64(pairs[h], pairs[h + 2]);
    quads[h + 2] = lower64(pairs[h + 1], pairs[h + 3]);
    quads[h + 3] = upper64(pairs[h + 1], pairs[h + 3]);
  }
  for (size_t c = 0; c < 4; ++c) {
    rows[c] = hn::ConcatLowerLower(df, quads[c + 4], quads[c]);
    rows[c + 4] = hn::ConcatUpperUpper(df, quads[c + 4], quads[c]);
  }
}

// Stores the int8 values of 8 kernels of 9, staged lane-major as int32
// (element j of kernel l at staged[j * 8 + l]), in memory order:
// out[9 * l + j]. Narrows first and moves bytes, not 32-bit lanes.
template <class DI>
HWY_INLINE void StoreNineByEight(DI di, const int32_t* HWY_RESTRICT staged,
                                 int8_t* HWY_RESTRICT out) {
  const hn::Repartition<int16_t, DI> d16;
  const hn::Rebind<int8_t, decltype(d16)> d8;  // 16 lanes
  const hn::RebindToUnsigned<decltype(d8)> du8;
  const hn::Repartition<uint16_t, decltype(d8)> du16;
  const hn::Repartition<uint32_t, decltype(d8)> du32;
  const hn::Half<decltype(du8)> du8_half;
  // Rows j and j + 1 as bytes: j's lanes 0-3, j+1's 0-3, j's 4-7, j+1's 4-7;
  // then byte-interleaved by kernel: lane 0 of j, of j + 1, lane 1 of j, ...
  alignas(16) static constexpr uint8_t kByKernel[16] = {
      0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
  const auto by_kernel = hn::Load(du8, kByKernel);
  auto two_rows = [&](size_t j) {
    const auto bytes = hn::DemoteTo(
        d8, hn::ReorderDemote2To(d16, hn::Load(di, staged + j * 8),
                                 hn::Load(di, staged + (j + 1) * 8)));
    return hn::BitCast(
        du16, hn::TableLookupBytes(hn::BitCast(du8, bytes), by_kernel));
  };
  const auto rows01 = two_rows(0), rows23 = two_rows(2);
  const auto rows45 = two_rows(4), rows67 = two_rows(6);
  // Four elements per kernel: kernels 0-3, then 4-7.
  const auto first_low =
      hn::BitCast(du32, hn::InterleaveLower(du16, rows01, rows23));
  const auto first_high =
      hn::BitCast(du32, hn::InterleaveUpper(du16, rows01, rows23));
  const auto last_low =
      hn::BitCast(du32, hn::InterleaveLower(du16, rows45, rows67));
  const auto last_high =
      hn::BitCast(du32, hn::InterleaveUpper(du16, rows45, rows67));
  // Eight elements per kernel, two kernels per vector.
  const hn::Vec<decltype(du8)> kernels[4] = {
      hn::BitCast(du8, hn::InterleaveLower(du32, first_low, last_low)),
      hn::BitCast(du8, hn::InterleaveUpper(du32, first_low, last_low)),
      hn::BitCast(du8, hn::InterleaveLower(du32, first_high, last_high)),
      hn::BitCast(du8, hn::InterleaveUpper(du32, first_high, last_high))};
  uint8_t* bytes_out = reinterpret_cast<uint8_t*>(out);
  for (size_t pair = 0; pair < 4; ++pair) {
    hn::StoreU(hn::LowerHalf(du8_half, kernels[pair]), du8_half,
               bytes_out + 9 * (2 * pair));
    hn::StoreU(hn::UpperHalf(du8_half, kernels[pair]), du8_half,
               bytes_out + 9 * (2 * pair + 1));
  }
  const hn::Rebind<int8_t, DI> d8_lanes;
  const auto ninth = hn::DemoteTo(d8_lanes, hn::Load(di, staged + 64));
  for (size_t l = 0; l < 8; ++l) out[9 * l + 8] = hn::ExtractLane(ninth, l);
}

// ConvertTo for integral v far inside the int32 range: on AVX2 without
// Highway 1.0.3's overflow fixup (four instructions more per vector).
template <class DI, class VF>
HWY_INLINE hn::Vec<DI> SmallIntFrom(DI di, VF v) {
#if HWY_TARGET == HWY_AVX2
  return hn::Vec<DI>{_mm256_cvttps_epi32(v.raw)};
#else
  return hn::ConvertTo(di, v);
#endif
}

// Ends one pass over a group of kernels in the code GCC emits: without it
// GCC moves loads and arithmetic of one pass into another, so that more
// vectors are live than there are registers, and spills (3% slower on
// ResNet-18's 3x3 layers, 6% with core/CMakeLists.txt's scheduling flags).
HWY_INLINE void EndOfPass() { asm volatile("" ::: "memory"); }

// What the lane-wise kernel stage adds up over a channel.
struct KernelStageSums {
  double squared_rtn = 0;     // sum of e0^2; NaN iff some w is not finite
  double squared_kernel = 0;  // sum of (r - x)^2 after the stage, unclamped
  int64_t flips = 0;          // elements that left rint(x)
  // Some 0 < |e0| < 2^-23 (every 0 < |x| < 2^-23 has one): sums of e0 + move
  // may round, so that before + moves need not equal the reference's
  // kernel_after (the statistics then recompute every kernel).
  bool tiny = false;
};

// Places the channel in s.w on the grid and runs the kernel stage,
// Lanes(df) kernels at a time (kernel `g + l` in lane l). Writes:
// - q in memory order (rint(x) + move, unclamped: ChannelStatistics clamps
//   the edges, and the channel stage's few flips rewrite theirs), and the
//   moves of edge groups lane-major (s.lane_layout, ChannelScratch::Slot);
//   every other x and move comes from w and q (ChannelScratch::X, Move);
// - per kernel: the sum of e0 (sequential in double), the sum after the
//   stage (= before + sum of moves, see KernelStageSums::tiny), the sum of
//   the recorded errors, and the channel-stage candidate with its signed
//   priority;
// - in s.edges, the elements whose rint(x) lies outside [t_min, t_max],
//   their kernels marked dirty.
//
// Ranking is branch-free: the rank of element j in the chosen order is the
// number of elements with a higher priority, or an equal one and a lower
// index; j is flipped iff rank < n, and order[n-1], order[n] and order[K-1]
// are the elements of those ranks.
//
// An element can flip toward the sign of -e0 unless it sits at the grid's
// edge; groups of kernels with such an element take their priorities from
// x as well.
template <size_t kFixedK, bool kSymmetric>
HWY_NOINLINE KernelStageSums KernelStageLanes(size_t runtime_k,
                                              const ChannelGrid& grid,
                                              ChannelScratch& s) {
  constexpr size_t kCapacity = kFixedK != 0 ? kFixedK : kMaxLaneKernel;
  const size_t k = kFixedK != 0 ? kFixedK : runtime_k;
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const hn::Repartition<double, decltype(df)> dd;
  const hn::Half<decltype(df)> dh;
  using VF = hn::Vec<decltype(df)>;
  using VI = hn::Vec<decltype(di)>;
  using VD = hn::Vec<decltype(dd)>;
  const size_t lanes = hn::Lanes(df);
  const size_t half = hn::Lanes(dd);
  s.lane_layout = lanes;
  // 3x3 kernels on 8 lanes move between memory order and lane-major order
  // by an 8x8 transpose in (the ninth elements by blends) and
  // StoreNineByEight out: gathers are slow (each cost as much as a fifth of
  // a group on Zen 3).
  constexpr bool kTransposed = kFixedK == 9 && hn::MaxLanes(df) == 8;
  // Kernels of up to 17 elements (at most 8 moves each) take their recorded
  // sums from the moves and their roundings (see `rounding` below); larger
  // ones add the recorded errors up.
  constexpr bool kRecordedFromMoves = kFixedK != 0 && kFixedK <= 17;

  const VF divisor = hn::Set(df, grid.divisor);
  const VF step = hn::Set(df, grid.step);
  const VF offset = hn::Set(df, grid.offset);
  const VF zero = hn::Zero(df);
  const VF one = hn::Set(df, 1.0f);
  const VF sign_bit = hn::Set(df, -0.0f);
  const VF t_min = hn::Set(df, grid.t_min);
  const VF t_max = hn::Set(df, grid.t_max);
  // |e0| as bits shifted left by one, minus one: below this iff tiny.
  const auto tiny_bound = hn::Set(du, (0x34000000u << 1) - 1);  // 2^-23
  // Offset of each lane's kernel from the group's first element.
  const VI lane_offset =
      hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(k)));
  const VI lane_index = hn::Iota(di, 0);

  auto promote_lo = [&](VF v) {
    return hn::PromoteTo(dd, hn::LowerHalf(dh, v));
  };
  auto promote_hi = [&](VF v) {
    return hn::PromoteTo(dd, hn::UpperHalf(dh, v));
  };
  // Doubles to float lanes: exact for small integers, and the sign survives
  // (a negative value that underflows becomes -0).
  auto narrow = [&](VD lo, VD hi) {
    return hn::Combine(df, hn::DemoteTo(dh, hi), hn::DemoteTo(dh, lo));
  };
  auto is_negative = [&](VF v) {
    return hn::MaskFromVec(
        hn::BitCast(df, hn::BroadcastSignBit(hn::BitCast(di, v))));
  };
  // The priority of e0 in the direction whose sign bit is up_sign: |e0| if
  // e0 points the other way, else 0. Right unless the element sits at the
  // grid's edge, where edge_priority_of also asks x.
  auto priority_of = [&](VF e0, VF up_sign) {
    return hn::Max(hn::Xor(e0, up_sign), zero);
  };
  auto edge_priority_of = [&](VF e0, VF x, hn::Mask<decltype(df)> up) {
    const auto can = CanFlip(df, e0, x, t_min, t_max);
    return hn::IfThenElseZero(
        hn::Or(hn::And(up, can.up), hn::AndNot(up, can.down)), hn::Abs(e0));
  };

  VD squared_rtn[2] = {hn::Zero(dd), hn::Zero(dd)};
  VD squared_kernel[2] = {hn::Zero(dd), hn::Zero(dd)};
  VF flips = zero;  // per lane
  bool tiny = false;
  int32_t* HWY_RESTRICT edge_groups = s.extreme_blocks.get();
  size_t groups_with_edges = 0;

  // Per group, lane-major (element j of lane l at j*lanes + l): x, e0,
  // the priorities (edge groups only), the ranks and the int8 values, which
  // go to memory order with s.lane_major_index (gathers are cheaper than a
  // scalar scatter). Each pass over j keeps only a few vectors live, so
  // that nothing spills.
  alignas(64) float staged_x[kCapacity * kMaxFloatLanes];
  alignas(64) float staged_e0[kCapacity * kMaxFloatLanes];
  alignas(64) float staged_priority[kCapacity * kMaxFloatLanes];
  alignas(64) int32_t staged_rank[kCapacity * kMaxFloatLanes];
  alignas(64) int32_t staged_q[kCapacity * kMaxFloatLanes];
  const int32_t* HWY_RESTRICT lane_major_index = s.lane_major_index.data();
  // The next channel's row (s.prefetch_row), a group's share per group:
  // its lines then arrive while this channel is computed. Prefetched while
  // the row loads instead, they stalled that loop on the miss buffers
  // (LoadRow was 15% of ResNet-18's time).
  const size_t group_bytes = lanes * k * s.element_bytes;
  const size_t lines_per_group = group_bytes / 64 + 1;
  for (size_t g = 0; g < s.kernels; g += lanes) {
    const uint8_t* ahead = s.prefetch_row + g * k * s.element_bytes;
    for (size_t line = 0; line < lines_per_group; ++line) {
      hwy::Prefetch(ahead + line * 64);
    }
    const float* HWY_RESTRICT wg = s.w + g * k;
    // Only edge groups keep their moves (ChannelScratch::Move).
    float* HWY_RESTRICT move_g = s.move.get() + g * k;
    // Padding kernels (past s.kernels) read w = 0, whose x is an integer:
    // e0 = 0, so they never flip and add nothing.
    VF squared = zero;
    VF lowest = t_max, highest = t_min;
    VF transposed[kTransposed ? 9 : 1];
    if constexpr (kTransposed) {
      for (size_t l = 0; l < 8; ++l) transposed[l] = hn::LoadU(df, wg + l * k);
      Transpose8x8(df, transposed);
      // Kernel l's ninth element, wg[9l + 8] = wg[8(l + 1) + l], is lane l
      // of the group's block l + 1 of 8: a diagonal.
      VF ninth = hn::LoadU(df, wg + 8);
      for (size_t l = 1; l < 8; ++l) {
        ninth = hn::IfThenElse(
            hn::RebindMask(
                df, hn::Eq(lane_index, hn::Set(di, static_cast<int32_t>(l)))),
            hn::LoadU(df, wg + 8 * (l + 1)), ninth);
      }
      transposed[8] = ninth;
    }
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      const VF w =
          kTransposed
              ? transposed[j]
              : hn::GatherIndex(
                    df, wg,
                    hn::Add(lane_offset, hn::Set(di, static_cast<int32_t>(j))));
      const VF x =
          kSymmetric ? hn::Div(w, divisor) : hn::Sub(hn::Mul(w, step), offset);
      const VF e = hn::Sub(hn::Round(x), x);
      hn::Store(x, df, staged_x + j * lanes);
      hn::Store(e, df, staged_e0 + j * lanes);
      squared = hn::MulAdd(e, e, squared);
      lowest = hn::Min(lowest, x);
      highest = hn::Max(highest, x);
    }
    EndOfPass();
    // The double sums in a pass of their own: fewer live vectors.
    VD sum_lo = hn::Zero(dd), sum_hi = hn::Zero(dd);
    auto smallest = hn::Set(du, ~0u);
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      const float* e_j = staged_e0 + j * lanes;
      sum_lo = hn::Add(sum_lo, hn::PromoteTo(dd, hn::Load(dh, e_j)));
      sum_hi = hn::Add(sum_hi, hn::PromoteTo(dd, hn::Load(dh, e_j + half)));
      smallest =
          hn::Min(smallest,
                  hn::Sub(hn::ShiftLeft<1>(hn::BitCast(du, hn::Load(df, e_j))),
                          hn::Set(du, 1)));
    }
    const bool tiny_group = !hn::AllFalse(du, hn::Lt(smallest, tiny_bound));
    tiny |= tiny_group;
    hn::Store(sum_lo, dd, s.kernel_before.get() + g);
    hn::Store(sum_hi, dd, s.kernel_before.get() + g + half);
    squared_rtn[0] = hn::Add(squared_rtn[0], promote_lo(squared));
    squared_rtn[1] = hn::Add(squared_rtn[1], promote_hi(squared));

    // Direction, n = rint(|S|) and over = (n >= |S|), in double, then
    // narrowed to float lanes (signs, and small integers: exact).
    const VD n_lo = hn::Round(hn::Abs(sum_lo));
    const VD n_hi = hn::Round(hn::Abs(sum_hi));
    const VF signed_sum = narrow(sum_lo, sum_hi);
    const auto up = is_negative(signed_sum);
    const VF up_sign = hn::And(signed_sum, sign_bit);
    const auto over = hn::Not(is_negative(narrow(
        hn::Sub(n_lo, hn::Abs(sum_lo)), hn::Sub(n_hi, hn::Abs(sum_hi)))));
    const VF n_float = narrow(n_lo, n_hi);
    const VI n = SmallIntFrom(di, n_float);
    const VI candidate_rank = hn::IfThenElse(
        hn::RebindMask(di, over),
        hn::IfThenElse(hn::Gt(n, hn::Zero(di)), hn::Sub(n, hn::Set(di, 1)),
                       hn::Set(di, static_cast<int32_t>(k - 1))),
        n);

    EndOfPass();
    // Priority in the chosen direction: positive exactly where the element
    // can flip that way.
    VF priority[kCapacity];
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      priority[j] = priority_of(hn::Load(df, staged_e0 + j * lanes), up_sign);
    }
    const auto real_kernel = hn::RebindMask(
        df,
        hn::Lt(lane_index, hn::Set(di, static_cast<int32_t>(s.kernels - g))));
    const auto at_edge = hn::And(
        real_kernel, hn::Or(hn::Ge(highest, t_max), hn::Le(lowest, t_min)));
    const bool edge_group = !hn::AllFalse(df, at_edge);
    if (HWY_UNLIKELY(edge_group)) {
      for (size_t j = 0; j < k; ++j) {
        priority[j] = edge_priority_of(hn::Load(df, staged_e0 + j * lanes),
                                       hn::Load(df, staged_x + j * lanes), up);
        hn::Store(priority[j], df, staged_priority + j * lanes);
      }
      const auto outside = hn::Or(hn::Gt(hn::Round(highest), t_max),
                                  hn::Lt(hn::Round(lowest), t_min));
      if (!hn::AllFalse(df, hn::And(real_kernel, outside))) {
        edge_groups[groups_with_edges++] = static_cast<int32_t>(g);
      }
    }

    // rank[j] = the number of elements before j in the order: i precedes j
    // iff p[i] > p[j], or p[i] == p[j] and i < j. One compare per pair: for
    // i < j, either i precedes j or j precedes i. VecFromMask is -1 where
    // true.
    VI rank[kCapacity];
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      rank[j] = hn::Set(di, static_cast<int32_t>(k - 1 - j));
    }
    HWY_UNROLL(16)
    for (size_t j = 1; j < k; ++j) {
      HWY_UNROLL(16)
      for (size_t i = 0; i < j; ++i) {
        const VI i_first = hn::BitCast(
            di, hn::VecFromMask(df, hn::Ge(priority[i], priority[j])));
        rank[j] = hn::Sub(rank[j], i_first);
        rank[i] = hn::Add(rank[i], i_first);
      }
    }
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      hn::Store(rank[j], di, staged_rank + j * lanes);
    }

    EndOfPass();
    // Flips: r = rint(x) + move where the element can move. A flip picks
    // the first n of the order; away from the grid's edges every pick moves
    // (its kernel has at least n elements of the right sign: |S| <= 1/2 of
    // their count), so only edge groups test the priority.
    const VF direction = hn::Xor(hn::Set(df, -1.0f), up_sign);  // up: +1
    VI candidate = hn::Zero(di);
    VF candidate_e0 = zero;
    VF moves = zero;
    // The sum of the roundings of e0 + move: (e0 + move) - move is exact
    // (Sterbenz), and so is its difference to e0 (at most 2^-25 where no
    // 0 < |e0| < 2^-23). Up to 8 of them, multiples of 2^-46, add up
    // exactly in float32.
    VF rounding = zero;
    VF squared_after = zero;
    auto flip = [&](auto at_edge) {
      HWY_UNROLL(16)
      for (size_t j = 0; j < k; ++j) {
        const VI rank_j = hn::Load(di, staged_rank + j * lanes);
        const VF e0_j = hn::Load(df, staged_e0 + j * lanes);
        const auto selected = hn::Eq(rank_j, candidate_rank);
        candidate = hn::IfThenElse(
            selected, hn::Set(di, static_cast<int32_t>(j)), candidate);
        candidate_e0 =
            hn::IfThenElse(hn::RebindMask(df, selected), e0_j, candidate_e0);
        auto moving = hn::RebindMask(df, hn::Lt(rank_j, n));
        if constexpr (decltype(at_edge)::value) {
          moving = hn::And(
              moving, hn::Gt(hn::Load(df, staged_priority + j * lanes), zero));
        }
        const VF move = hn::IfThenElseZero(moving, direction);
        const VF error = hn::Add(e0_j, move);
        if constexpr (kRecordedFromMoves) {
          rounding = hn::Add(rounding, hn::Sub(hn::Sub(error, move), e0_j));
        }
        if constexpr (decltype(at_edge)::value) {
          moves = hn::Add(moves, move);
          hn::Store(move, df, move_g + j * lanes);
        }
        squared_after = hn::MulAdd(error, error, squared_after);
        // x + e0 is rint(x) exactly (e0 = rint(x) - x is exact). No clamp:
        // an element moves only to a value on the grid, and the statistics
        // rewrite q at the edges, the only elements outside it.
        const VF r =
            hn::Add(hn::Add(hn::Load(df, staged_x + j * lanes), e0_j), move);
        hn::Store(SmallIntFrom(di, r), di, staged_q + j * lanes);
      }
    };
    if (HWY_UNLIKELY(edge_group)) {
      flip(std::true_type());
    } else {
      flip(std::false_type());
      moves = hn::Mul(n_float, direction);
    }
    // (Else GCC keeps the flip pass's masks and moves, spilled, for the
    // rare groups that add their recorded errors up below.)
    EndOfPass();
    // The stage moves a kernel's elements one way: |sum of moves| of a lane
    // is its count of moved elements. Sums of e0, moves and roundings, all
    // multiples of 2^-46 below 2^4, are exact in double.
    flips = hn::Add(flips, hn::Abs(moves));
    const VD after_lo = hn::Add(sum_lo, promote_lo(moves));
    const VD after_hi = hn::Add(sum_hi, promote_hi(moves));
    hn::Store(after_lo, dd, s.kernel_after.get() + g);
    hn::Store(after_hi, dd, s.kernel_after.get() + g + half);
    squared_kernel[0] = hn::Add(squared_kernel[0], promote_lo(squared_after));
    squared_kernel[1] = hn::Add(squared_kernel[1], promote_hi(squared_after));

    // The errors the flips recorded: e0 + move, but 0 where a picked
    // element could not move (a wasted pick, only at the edges), added up
    // as the reference does unless the sum of moves and roundings is known
    // to be the same.
    VD recorded_lo = hn::Add(after_lo, promote_lo(rounding));
    VD recorded_hi = hn::Add(after_hi, promote_hi(rounding));
    if (!kRecordedFromMoves || edge_group || tiny_group) {
      recorded_lo = recorded_hi = hn::Zero(dd);
      for (size_t j = 0; j < k; ++j) {
        const auto picked = hn::RebindMask(
            df, hn::Lt(hn::Load(di, staged_rank + j * lanes), n));
        const VF e0_j = hn::Load(df, staged_e0 + j * lanes);
        VF recorded;
        if (edge_group) {
          const auto wasted = hn::AndNot(
              hn::Gt(hn::Load(df, staged_priority + j * lanes), zero), picked);
          recorded = hn::IfThenZeroElse(
              wasted, hn::Add(e0_j, hn::Load(df, move_g + j * lanes)));
        } else {
          recorded = hn::Add(e0_j, hn::IfThenElseZero(picked, direction));
        }
        recorded_lo = hn::Add(recorded_lo, promote_lo(recorded));
        recorded_hi = hn::Add(recorded_hi, promote_hi(recorded));
      }
    }
    hn::Store(recorded_lo, dd, s.kernel_recorded.get() + g);
    hn::Store(recorded_hi, dd, s.kernel_recorded.get() + g + half);

    // The candidate's error now: a flip assigned +-(1 - p) if the element
    // could move, else 0; an unflipped one still holds e0. Over-flipped
    // kernels offer the opposite direction, and the sign carries it
    // (negative: up). Its priority is that of its e0 except at the edges.
    const VF candidate_priority =
        edge_group
            ? hn::GatherIndex(
                  df, staged_priority,
                  hn::Add(hn::Mul(candidate,
                                  hn::Set(di, static_cast<int32_t>(lanes))),
                          lane_index))
            : priority_of(candidate_e0, up_sign);
    const auto candidate_flipped =
        hn::RebindMask(df, hn::Lt(candidate_rank, n));
    const VF magnitude =
        hn::IfThenElse(candidate_flipped,
                       hn::IfThenElseZero(hn::Gt(candidate_priority, zero),
                                          hn::Sub(one, candidate_priority)),
                       hn::Abs(candidate_e0));
    hn::Store(hn::Add(hn::Add(lane_offset, candidate),
                      hn::Set(di, static_cast<int32_t>(g * k))),
              di, s.candidate.get() + g);
    hn::Store(hn::IfThenElse(hn::Xor(up, over), hn::Neg(magnitude), magnitude),
              df, s.candidate_priority.get() + g);

    int8_t* HWY_RESTRICT q_out = s.q + g * k;
    if constexpr (kTransposed) {
      StoreNineByEight(di, staged_q, q_out);
    } else {
      HWY_UNROLL(16)
      for (size_t j = 0; j < k; ++j) {
        const VI q = hn::GatherIndex(
            di, staged_q, hn::LoadU(di, lane_major_index + j * lanes));
        hn::StoreU(hn::DemoteTo(d8, q), d8, q_out + j * lanes);
      }
    }
  }
  s.edges.clear();
  for (size_t group = 0; group < groups_with_edges; ++group) {
    const size_t first = static_cast<size_t>(edge_groups[group]) * k;
    const size_t end = std::min(first + lanes * k, s.size);
    for (size_t i = first; i < end; ++i) {
      if (OutsideGrid(grid, std::nearbyint(s.X(i)))) s.AddEdge(i);
    }
  }
  KernelStageSums sums;
  sums.squared_rtn =
      hn::GetLane(hn::SumOfLanes(dd, hn::Add(squared_rtn[0], squared_rtn[1])));
  sums.squared_kernel = hn::GetLane(
      hn::SumOfLanes(dd, hn::Add(squared_kernel[0], squared_kernel[1])));
  sums.flips = static_cast<int64_t>(hn::GetLane(hn::SumOfLanes(df, flips)));
  sums.tiny = tiny;
  return sums;
}

// Each kernel's sum of e0 (s.e), sequential in double, as kernel_before,
// kernel_after and kernel_recorded alike: the sums of a channel with no
// kernel stage, Lanes(df) kernels at a time.
template <size_t kFixedK>
HWY_NOINLINE void KernelSumsLanes(size_t runtime_k, ChannelScratch& s) {
  const size_t k = kFixedK != 0 ? kFixedK : runtime_k;
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Repartition<double, decltype(df)> dd;
  const hn::Half<decltype(df)> dh;
  const size_t lanes = hn::Lanes(df);
  const size_t half = hn::Lanes(dd);
  const auto lane_offset =
      hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(k)));
  for (size_t g = 0; g < s.kernels; g += lanes) {
    const float* eg = s.e.get() + g * k;
    auto sum_lo = hn::Zero(dd);
    auto sum_hi = hn::Zero(dd);
    HWY_UNROLL(16)
    for (size_t j = 0; j < k; ++j) {
      const auto e0 = hn::GatherIndex(
          df, eg, hn::Add(lane_offset, hn::Set(di, static_cast<int32_t>(j))));
      sum_lo = hn::Add(sum_lo, hn::PromoteTo(dd, hn::LowerHalf(dh, e0)));
      sum_hi = hn::Add(sum_hi, hn::PromoteTo(dd, hn::UpperHalf(dh, e0)));
    }
    for (double* sums : {s.kernel_before.get(), s.kernel_after.get(),
                         s.kernel_recorded.get()}) {
      hn::Store(sum_lo, dd, sums + g);
      hn::Store(sum_hi, dd, sums + g + half);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace squant
HWY_AFTER_NAMESPACE();
#endif  // HWY_TARGET != HWY_SCALAR

#endif  // SQUANT_CORE_FAST_KERNEL_STAGE_INL_H_
