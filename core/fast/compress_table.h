// A compress-store table for 8 lanes: row m lists the lanes set in the
// mask m, in increasing order, then zeros. Highway 1.0.3 builds its own
// table on the stack on every CompressStore call; this one is static.

#ifndef SQUANT_CORE_FAST_COMPRESS_TABLE_H_
#define SQUANT_CORE_FAST_COMPRESS_TABLE_H_

#include <cstdint>

namespace squant {

struct CompressTable8 {
  alignas(32) int32_t lanes[256][8];
};

constexpr CompressTable8 MakeCompressTable8() {
  CompressTable8 table{};
  for (int mask = 0; mask < 256; ++mask) {
    int written = 0;
    for (int lane = 0; lane < 8; ++lane) {
      if (mask & (1 << lane)) table.lanes[mask][written++] = lane;
    }
  }
  return table;
}

inline constexpr CompressTable8 kCompressTable8 = MakeCompressTable8();

}  // namespace squant

#endif  // SQUANT_CORE_FAST_COMPRESS_TABLE_H_
