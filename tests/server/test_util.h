// Shared helpers for the server tests: an in-process server on loopback,
// clients that drive QuantizeModel streams, random layers, /metrics scrapes.

#ifndef SQUANT_TESTS_SERVER_TEST_UTIL_H_
#define SQUANT_TESTS_SERVER_TEST_UTIL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "core/squant.h"
#include "grpcpp/grpcpp.h"
#include "server/server.h"
#include "server/server_config.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::server::testing {

// ThreadSanitizer runs this code 5-15x slower (and Debian's libraries
// uninstrumented): tests with big loads skip themselves under it.
inline constexpr bool kThreadSanitizer =
#if defined(__SANITIZE_THREAD__)
    true;
#else
    false;
#endif

// A config for tests: loopback, ports picked by the system, 2 workers.
ServerConfig TestConfig();
std::unique_ptr<SquantServer> StartServer(const ServerConfig& config);

std::unique_ptr<v1::QuantizationService::Stub> MakeStub(int port);
std::shared_ptr<grpc::Channel> MakeChannel(int port);

// Deterministic normal(0, 1) float32 weights, little-endian bytes.
std::vector<uint8_t> RandomF32(int64_t elements, uint32_t seed);
int64_t Elements(const std::vector<int64_t>& shape);

struct LayerToSend {
  uint64_t id = 0;
  std::string name;
  std::vector<int64_t> shape;
  v1::Dtype dtype = v1::DTYPE_F32;
  std::vector<uint8_t> bytes;
  v1::QuantizationOptions overrides;
};
LayerToSend RandomLayer(uint64_t id, std::vector<int64_t> shape, uint32_t seed);

struct ReceivedLayer {
  v1::LayerResult result;
  std::vector<uint8_t> values;
};

struct ModelOutcome {
  grpc::Status status;
  std::vector<ReceivedLayer> layers;  // in order of arrival
  std::optional<v1::ModelSummary> summary;
  std::string protocol_error;  // empty when responses followed the contract
};

// A QuantizeModel stream driven by hand: Send() messages, Finish() reads
// every response (a reader thread collects them all along).
class ModelSession {
 public:
  ModelSession(v1::QuantizationService::Stub& stub,
               absl::Duration timeout = absl::Seconds(60));
  ~ModelSession();

  bool Send(const v1::QuantizeModelRequest& request);
  bool SendOptions(const v1::ModelOptions& options);
  bool SendHeader(const LayerToSend& layer);
  bool SendBytes(uint64_t id, const uint8_t* data, int64_t size);
  // Header then the bytes in chunks of `chunk_bytes`.
  bool SendLayer(const LayerToSend& layer, int64_t chunk_bytes = 4 << 20);
  void HalfClose();
  void Cancel() { context_.TryCancel(); }
  // Number of complete layers received so far.
  int LayersReceived();
  // Half-closes and waits for the end of the stream.
  ModelOutcome Finish();
  // Waits for the server to end the stream, without half-closing.
  ModelOutcome AwaitEnd();

 private:
  void ReadAll();

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::QuantizeModelRequest,
                                           v1::QuantizeModelResponse>>
      stream_;
  std::mutex mu_;
  ModelOutcome outcome_;
  std::optional<ReceivedLayer> current_;
  std::thread reader_;
  bool half_closed_ = false;
};

// Sends `layers` (each whole, in order), half-closes and collects the
// outcome.
ModelOutcome QuantizeModel(v1::QuantizationService::Stub& stub,
                           const v1::ModelOptions& options,
                           const std::vector<LayerToSend>& layers,
                           int64_t chunk_bytes = 4 << 20);

// The core library's result for `layer` with `options` (the reference the
// server must match bit for bit).
QuantizedLayer CoreQuantize(const LayerToSend& layer,
                            const QuantOptions& options);

// Body of GET /metrics on 127.0.0.1:port.
std::string ScrapeMetrics(int port);
// The value of the sample `series` (name with labels as exposed, e.g.
// `squant_errors_total{reason="byte_count"}`); nullopt when absent.
std::optional<double> MetricValue(const std::string& exposition,
                                  const std::string& series);

// squant-server run as a child process with `flags` (plus --port=0
// --metrics_port=0 on loopback); its stdout log lines are collected.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& flags);
  ~ServerProcess();  // SIGKILLs the process if it still runs

  // Waits for the "listening" line; false if it does not come.
  bool WaitUntilListening(absl::Duration timeout = absl::Seconds(20));
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  void Signal(int signal_number);
  // Waits for the exit; the exit status, or -1 on timeout or a signal.
  int WaitForExit(absl::Duration timeout);
  std::string Log();

 private:
  void ReadLog();

  int pid_ = -1;
  int exit_status_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::mutex mu_;
  std::string log_;
  std::thread log_reader_;
};

// The integer after `"key":` in a JSON log line, or -1.
int JsonInt(const std::string& line, const std::string& key);

// Polls `condition` until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = absl::Seconds(10));

}  // namespace squant::server::testing

#endif  // SQUANT_TESTS_SERVER_TEST_UTIL_H_
