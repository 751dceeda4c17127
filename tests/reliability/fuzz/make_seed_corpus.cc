// Writes the QuantizeModel fuzzer's seed corpus (fuzz_sequence.h format):
// a few valid conversations and one of each kind of invalid one.
//   make_model_stream_seeds tests/reliability/fuzz/corpus

#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "tests/reliability/fuzz/fuzz_sequence.h"

namespace {

using squant::reliability::Fill;
using squant::reliability::ScriptWriter;
using Options = ScriptWriter::Options;

constexpr uint8_t kF32 = 1, kF16 = 2, kBF16 = 3;

std::vector<std::pair<std::string, ScriptWriter>> Seeds() {
  std::vector<std::pair<std::string, ScriptWriter>> seeds;
  auto add = [&](const std::string& name) -> ScriptWriter& {
    return seeds.emplace_back(name, ScriptWriter()).second;
  };
  add("empty_stream").HalfClose();
  add("one_layer")
      .SendOptions({})
      .SendHeader(1, "conv1.weight", {8, 4, 3, 3}, kF32)
      .FillLayer(1, 1, Fill::kNormal)
      .HalfClose();
  add("three_dtypes_interleaved_overrides")
      .SendOptions({.bits = 3, .mode = 2, .grid = 1, .pack = 1}, "mixed")
      .SendHeader(1, "a.weight", {16, 8, 3, 3}, kF32)
      .SendHeader(2, "b.weight", {7, 5}, kF16,
                  {.bits = 2, .mode = 4, .grid = 0, .pack = 2})
      .SendHeader(3, "c.weight", {3, 2, 5, 1}, kBF16,
                  {.bits = 8, .mode = 3, .grid = 2, .pack = 1})
      .SendGeneratedChunk(2, 30, 7)
      .FillLayer(1, 5, Fill::kNormal, 3)
      .FillLayer(3, 2, Fill::kNormal, 4)
      .FillLayer(2, 3, Fill::kNormal, 5)
      .HalfClose();
  add("packed_odd_rows")
      .SendOptions({.bits = 4, .pack = 2})
      .SendHeader(9, "fc.weight", {5, 3}, kF32)
      .FillLayer(9, 1, Fill::kNormal)
      .SendHeader(10, "fc2.weight", {3, 7, 1, 1}, kBF16, {.mode = 1})
      .FillLayer(10, 8, Fill::kNormal)
      .HalfClose();
  add("degenerate_channels")
      .SendOptions({.grid = 2})
      .SendHeader(1, "const", {4, 4, 2}, kF32)
      .FillLayer(1, 1, Fill::kConstant, 200)
      .SendHeader(2, "tiny", {4, 9}, kF32, {.grid = 1})
      .FillLayer(2, 1, Fill::kTinyRange)
      .SendHeader(3, "extreme", {2, 6}, kF16)
      .FillLayer(3, 2, Fill::kExtreme)
      .SendHeader(4, "extreme32", {2, 6}, kF32, {.bits = 8})
      .FillLayer(4, 2, Fill::kExtreme)
      .HalfClose();
  add("nan_f32")
      .SendOptions({})
      .SendHeader(1, "w", {4, 4}, kF32)
      .FillLayer(1, 2, Fill::kNaN)
      .HalfClose();
  add("inf_f16_then_more")
      .SendOptions({})
      .SendHeader(1, "w", {6, 2, 3}, kF16)
      .FillLayer(1, 1, Fill::kInf)
      .SendHeader(2, "v", {4, 4}, kF32)
      .FillLayer(2, 1, Fill::kNormal)
      .HalfClose();
  add("overflowing_shape")
      .SendOptions({})
      .SendHeader(1, "huge", {int64_t{1} << 40, int64_t{1} << 40, 16}, kF32)
      .FillLayer(1, 1, Fill::kNormal)
      .HalfClose();
  add("negative_and_zero_dims")
      .SendOptions({})
      .SendHeader(1, "neg", {4, -1}, kF32)
      .HalfClose();
  add("zero_dim").SendOptions({}).SendHeader(1, "z", {0, 4}, kBF16).HalfClose();
  add("rank_one").SendOptions({}).SendHeader(1, "bias", {64}, kF32).HalfClose();
  add("bad_dtypes")
      .SendOptions({})
      .SendHeader(1, "unset", {4, 4}, 0)
      .HalfClose();
  add("duplicate_id")
      .SendOptions({})
      .SendHeader(5, "first", {2, 2}, kF32)
      .FillLayer(5, 1, Fill::kNormal)
      .SendHeader(5, "again", {2, 2}, kF32)
      .FillLayer(5, 1, Fill::kNormal)
      .HalfClose();
  add("chunk_unknown_layer")
      .SendOptions({})
      .SendGeneratedChunk(42, 16, 1)
      .HalfClose();
  add("chunk_after_complete")
      .SendOptions({})
      .SendHeader(1, "w", {2, 2}, kF32)
      .FillLayer(1, 1, Fill::kNormal)
      .FillLayer(1, 1, Fill::kNormal)
      .HalfClose();
  add("too_many_bytes")
      .SendOptions({})
      .SendHeader(1, "w", {2, 2}, kF32)
      .SendRawChunk(1, std::string(20, '\x01'))
      .HalfClose();
  add("header_before_options")
      .SendHeader(1, "w", {2, 2}, kF32)
      .SendOptions({})
      .HalfClose();
  add("chunk_before_options").SendRawChunk(1, "abcd").HalfClose();
  add("options_twice").SendOptions({}).SendOptions({}).HalfClose();
  add("empty_request").SendOptions({}).SendEmpty().HalfClose();
  add("bits_out_of_range").SendOptions({.bits = 9}).HalfClose();
  add("unknown_mode_override")
      .SendOptions({})
      .SendHeader(1, "w", {2, 2}, kF32, {.mode = 5})
      .HalfClose();
  add("pack_with_8_bits")
      .SendOptions({.bits = 4, .pack = 2})
      .SendHeader(1, "w", {2, 2}, kF32, {.bits = 8})
      .HalfClose();
  add("too_many_channels")
      .SendOptions({})
      .SendHeader(1, "wide", {1000, 1}, kF32)
      .HalfClose();
  add("layer_too_large")
      .SendOptions({})
      .SendHeader(1, "big", {200, 200, 2}, kF32)
      .FillLayer(1, 8, Fill::kNormal)
      .HalfClose();
  add("incomplete_at_half_close")
      .SendOptions({})
      .SendHeader(1, "w", {8, 8}, kF32)
      .SendGeneratedChunk(1, 100, 2)
      .HalfClose();
  add("cancel_mid_layer")
      .SendOptions({})
      .SendHeader(1, "w", {64, 64}, kF32)
      .SendGeneratedChunk(1, 4000, 3)
      .Cancel();
  add("cancel_after_layers")
      .SendOptions({})
      .SendHeader(1, "w", {64, 16, 3, 3}, kF32)
      .FillLayer(1, 4, Fill::kNormal)
      .Cancel();
  add("huge_layer_id")
      .SendOptions({})
      .SendHeader(uint64_t{1} << 63, "w", {3, 3}, kBF16)
      .FillLayer(uint64_t{1} << 63, 2, Fill::kNormal)
      .HalfClose();
  add("many_small_layers").SendOptions({.bits = 2});
  ScriptWriter& many = seeds.back().second;
  for (uint64_t id = 0; id < 20; ++id) {
    many.SendHeader(id, "l", {static_cast<int64_t>(1 + id % 5), 3}, kF32)
        .FillLayer(id, 1, Fill::kNormal, static_cast<uint8_t>(id));
  }
  many.HalfClose();
  return seeds;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " OUTPUT_DIR\n";
    return 1;
  }
  for (const auto& [name, writer] : Seeds()) {
    const std::string path = std::string(argv[1]) + "/" + name;
    std::ofstream file(path, std::ios::binary);
    file << writer.bytes();
    if (!file) {
      std::cerr << "cannot write " << path << "\n";
      return 1;
    }
  }
  return 0;
}
