// The open QuantizeModel streams, for what concerns all of them: waking
// streams paused on the global memory cap when memory is freed, and a
// watchdog that ends streams idle past --stream_idle_timeout.

#ifndef SQUANT_SERVER_STREAM_REGISTRY_H_
#define SQUANT_SERVER_STREAM_REGISTRY_H_

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"

namespace squant::server {

// What the registry needs of a stream. Ref/Unref keep it alive while the
// registry calls it outside the registry's lock.
class RegisteredStream {
 public:
  virtual void Ref() = 0;
  virtual void Unref() = 0;
  // Some memory was freed: resume reading if the budget now allows it.
  virtual void OnMemoryFreed() = 0;
  // End the stream if it has waited for the client too long.
  virtual void CheckIdle(absl::Time now) = 0;

 protected:
  ~RegisteredStream() = default;
};

class StreamRegistry {
 public:
  // The watchdog looks at every stream every `check_period`.
  explicit StreamRegistry(absl::Duration check_period);
  ~StreamRegistry();
  StreamRegistry(const StreamRegistry&) = delete;
  StreamRegistry& operator=(const StreamRegistry&) = delete;

  void Add(RegisteredStream* stream);
  void Remove(RegisteredStream* stream);
  void NotifyMemoryFreed();

 private:
  // The registered streams, each with a reference taken.
  std::vector<RegisteredStream*> Snapshot();
  void Watch();

  const absl::Duration check_period_;
  std::mutex mu_;
  std::condition_variable stop_;
  absl::flat_hash_set<RegisteredStream*> streams_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_STREAM_REGISTRY_H_
