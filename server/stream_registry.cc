#include "server/stream_registry.h"

#include "absl/time/clock.h"

namespace squant::server {

StreamRegistry::StreamRegistry(absl::Duration check_period)
    : check_period_(check_period), watchdog_([this] { Watch(); }) {}

StreamRegistry::~StreamRegistry() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_.notify_all();
  watchdog_.join();
}

void StreamRegistry::Add(RegisteredStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.insert(stream);
}

void StreamRegistry::Remove(RegisteredStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(stream);
}

std::vector<RegisteredStream*> StreamRegistry::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RegisteredStream*> streams(streams_.begin(), streams_.end());
  for (RegisteredStream* stream : streams) stream->Ref();
  return streams;
}

void StreamRegistry::NotifyMemoryFreed() {
  for (RegisteredStream* stream : Snapshot()) {
    stream->OnMemoryFreed();
    stream->Unref();
  }
}

void StreamRegistry::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_.wait_for(lock, absl::ToChronoNanoseconds(check_period_),
                         [this] { return stopping_; })) {
    lock.unlock();
    const absl::Time now = absl::Now();
    for (RegisteredStream* stream : Snapshot()) {
      stream->CheckIdle(now);
      stream->Unref();
    }
    lock.lock();
  }
}

}  // namespace squant::server
