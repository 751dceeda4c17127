// libFuzzer target: arbitrary QuantizeModel conversations (fuzz_sequence.h)
// against one in-process squant-server, each checked by ScriptRunner.

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "tests/reliability/fuzz/fuzz_sequence.h"
#include "tests/reliability/fuzz/stream_replay.h"

namespace {

squant::reliability::ScriptRunner* runner = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // The server logs a line per stream on stdout; libFuzzer reports on
  // stderr.
  const int null = open("/dev/null", O_WRONLY);
  dup2(null, STDOUT_FILENO);
  close(null);
  auto started = squant::reliability::ScriptRunner::Start();
  if (!started.ok()) {
    std::fprintf(stderr, "cannot start the server: %s\n",
                 started.status().ToString().c_str());
    std::abort();
  }
  runner = started->release();  // lives as long as the process
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string failure =
      runner->Run(squant::reliability::DecodeScript({data, size}));
  if (!failure.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
