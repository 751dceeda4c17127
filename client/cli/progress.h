// A one-line progress bar on stderr (layers, bytes, rate), drawn only when
// stderr is a terminal so that logs and pipes stay clean.

#ifndef SQUANT_CLIENT_CLI_PROGRESS_H_
#define SQUANT_CLIENT_CLI_PROGRESS_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace squant::cli {

class Progress {
 public:
  // Draws nothing unless `enabled` and stderr is a terminal.
  Progress(int total_layers, uint64_t total_bytes, bool enabled);

  // Thread-safe; redraws at most ten times a second.
  void LayerDone(uint64_t input_bytes);
  // Clears the bar.
  void Finish();

 private:
  void Draw() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const int total_layers_;
  const uint64_t total_bytes_;
  const bool enabled_;
  const absl::Time start_ = absl::Now();
  absl::Mutex mutex_;
  int layers_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Time last_draw_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
};

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_PROGRESS_H_
