#include "client/cli/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"

namespace squant::cli {
namespace {

constexpr int kBarWidth = 30;

}  // namespace

Progress::Progress(int total_layers, uint64_t total_bytes, bool enabled)
    : total_layers_(total_layers),
      total_bytes_(total_bytes),
      enabled_(enabled && ::isatty(STDERR_FILENO)) {}

void Progress::LayerDone(uint64_t input_bytes) {
  if (!enabled_) return;
  absl::MutexLock lock(&mutex_);
  ++layers_;
  bytes_ += input_bytes;
  const absl::Time now = absl::Now();
  if (layers_ == total_layers_ || now - last_draw_ > absl::Milliseconds(100)) {
    last_draw_ = now;
    Draw();
  }
}

void Progress::Finish() {
  if (!enabled_) return;
  absl::FPrintF(stderr, "\r\033[K");
  std::fflush(stderr);
}

void Progress::Draw() {
  const double fraction =
      total_bytes_ ? static_cast<double>(bytes_) / total_bytes_ : 1.0;
  const int filled = static_cast<int>(fraction * kBarWidth);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
  const double rate = seconds > 0 ? bytes_ / seconds / 1e6 : 0;
  absl::FPrintF(stderr, "\r[%s%s] %d/%d layers  %.1f/%.1f MB  %.1f MB/s\033[K",
                std::string(filled, '='), std::string(kBarWidth - filled, ' '),
                layers_, total_layers_, bytes_ / 1e6, total_bytes_ / 1e6, rate);
  std::fflush(stderr);
}

}  // namespace squant::cli
