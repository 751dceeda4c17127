#include "tests/server/test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace squant::server::testing {

ServerConfig TestConfig() {
  ServerConfig config;
  config.bind_address = "127.0.0.1";
  config.port = 0;
  config.metrics_bind_address = "127.0.0.1";
  config.metrics_port = 0;
  config.workers = 2;
  return config;
}

std::unique_ptr<SquantServer> StartServer(const ServerConfig& config) {
  absl::StatusOr<std::unique_ptr<SquantServer>> server =
      SquantServer::Start(config);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::shared_ptr<grpc::Channel> MakeChannel(int port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<v1::QuantizationService::Stub> MakeStub(int port) {
  return v1::QuantizationService::NewStub(MakeChannel(port));
}

std::vector<uint8_t> RandomF32(int64_t elements, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint8_t> bytes(elements * sizeof(float));
  for (int64_t i = 0; i < elements; ++i) {
    const float value = normal(rng);
    std::memcpy(bytes.data() + i * sizeof(float), &value, sizeof(float));
  }
  return bytes;
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t elements = 1;
  for (int64_t d : shape) elements *= d;
  return elements;
}

LayerToSend RandomLayer(uint64_t id, std::vector<int64_t> shape,
                        uint32_t seed) {
  LayerToSend layer;
  layer.id = id;
  layer.name = absl::StrCat("layer", id, ".weight");
  layer.bytes = RandomF32(Elements(shape), seed);
  layer.shape = std::move(shape);
  return layer;
}

ModelSession::ModelSession(v1::QuantizationService::Stub& stub,
                           absl::Duration timeout) {
  context_.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  stream_ = stub.QuantizeModel(&context_);
  reader_ = std::thread([this] { ReadAll(); });
}

ModelSession::~ModelSession() {
  if (reader_.joinable()) {
    context_.TryCancel();
    reader_.join();
    stream_->Finish().IgnoreError();
  }
}

bool ModelSession::Send(const v1::QuantizeModelRequest& request) {
  return stream_->Write(request);
}

bool ModelSession::SendOptions(const v1::ModelOptions& options) {
  v1::QuantizeModelRequest request;
  *request.mutable_options() = options;
  return Send(request);
}

bool ModelSession::SendHeader(const LayerToSend& layer) {
  v1::QuantizeModelRequest request;
  v1::LayerHeader& header = *request.mutable_layer_header();
  header.set_layer_id(layer.id);
  header.set_name(layer.name);
  header.mutable_shape()->Assign(layer.shape.begin(), layer.shape.end());
  header.set_dtype(layer.dtype);
  *header.mutable_overrides() = layer.overrides;
  return Send(request);
}

bool ModelSession::SendBytes(uint64_t id, const uint8_t* data, int64_t size) {
  v1::QuantizeModelRequest request;
  request.mutable_layer_chunk()->set_layer_id(id);
  request.mutable_layer_chunk()->set_data(data, size);
  return Send(request);
}

bool ModelSession::SendLayer(const LayerToSend& layer, int64_t chunk_bytes) {
  if (!SendHeader(layer)) return false;
  const int64_t total = static_cast<int64_t>(layer.bytes.size());
  for (int64_t offset = 0; offset < total; offset += chunk_bytes) {
    if (!SendBytes(layer.id, layer.bytes.data() + offset,
                   std::min(chunk_bytes, total - offset))) {
      return false;
    }
  }
  return true;
}

void ModelSession::HalfClose() {
  if (!half_closed_) stream_->WritesDone();
  half_closed_ = true;
}

int ModelSession::LayersReceived() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(outcome_.layers.size());
}

void ModelSession::ReadAll() {
  v1::QuantizeModelResponse response;
  while (stream_->Read(&response)) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string& error = outcome_.protocol_error;
    switch (response.kind_case()) {
      case v1::QuantizeModelResponse::kLayerResult:
        if (current_) error = "LayerResult before the previous layer's values";
        current_ = ReceivedLayer{response.layer_result(), {}};
        break;
      case v1::QuantizeModelResponse::kLayerValues: {
        const v1::LayerValues& values = response.layer_values();
        if (!current_ || values.layer_id() != current_->result.layer_id() ||
            values.offset() != current_->values.size()) {
          error = absl::StrCat("unexpected LayerValues for layer ",
                               values.layer_id(), " at ", values.offset());
          break;
        }
        current_->values.insert(current_->values.end(), values.data().begin(),
                                values.data().end());
        if (current_->values.size() == current_->result.values_bytes()) {
          outcome_.layers.push_back(*std::move(current_));
          current_.reset();
        }
        break;
      }
      case v1::QuantizeModelResponse::kSummary:
        if (current_) error = "summary before the last layer's values";
        outcome_.summary = response.summary();
        break;
      default:
        error = "empty response";
    }
  }
}

ModelOutcome ModelSession::Finish() {
  HalfClose();
  return AwaitEnd();
}

ModelOutcome ModelSession::AwaitEnd() {
  reader_.join();
  ModelOutcome outcome;
  {
    std::lock_guard<std::mutex> lock(mu_);
    outcome = std::move(outcome_);
  }
  outcome.status = stream_->Finish();
  return outcome;
}

ModelOutcome QuantizeModel(v1::QuantizationService::Stub& stub,
                           const v1::ModelOptions& options,
                           const std::vector<LayerToSend>& layers,
                           int64_t chunk_bytes) {
  ModelSession session(stub);
  if (session.SendOptions(options)) {
    for (const LayerToSend& layer : layers) {
      if (!session.SendLayer(layer, chunk_bytes)) break;
    }
  }
  return session.Finish();
}

QuantizedLayer CoreQuantize(const LayerToSend& layer,
                            const QuantOptions& options) {
  WeightTensor weights;
  weights.dtype = DType::kF32;
  weights.shape = layer.shape;
  weights.data = layer.bytes;
  absl::StatusOr<QuantizedLayer> quantized = Quantize(weights, options);
  EXPECT_TRUE(quantized.ok()) << quantized.status();
  return quantized.ok() ? *std::move(quantized) : QuantizedLayer{};
}

std::string ScrapeMetrics(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
      0) {
    const std::string request =
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, request.data(), request.size()) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[65536];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
        response.append(buffer, n);
      }
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

std::optional<double> MetricValue(const std::string& exposition,
                                  const std::string& series) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() &&
        line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

ServerProcess::ServerProcess(const std::vector<std::string>& flags) {
  std::vector<std::string> args = {
      SQUANT_SERVER_BINARY, "--port=0", "--metrics_port=0",
      "--bind_address=127.0.0.1", "--metrics_bind_address=127.0.0.1"};
  args.insert(args.end(), flags.begin(), flags.end());
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  stdout_fd_ = pipe_fds[0];
  log_reader_ = std::thread([this] { ReadLog(); });
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && WaitForExit(absl::ZeroDuration()) == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (log_reader_.joinable()) log_reader_.join();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

void ServerProcess::ReadLog() {
  char buffer[4096];
  ssize_t n;
  while ((n = read(stdout_fd_, buffer, sizeof(buffer))) > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.append(buffer, n);
  }
}

std::string ServerProcess::Log() {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

int JsonInt(const std::string& line, const std::string& key) {
  const std::string pattern = "\"" + key + "\":";
  const size_t at = line.find(pattern);
  if (at == std::string::npos) return -1;
  return std::atoi(line.c_str() + at + pattern.size());
}

bool ServerProcess::WaitUntilListening(absl::Duration timeout) {
  return WaitFor(
      [this] {
        const std::string log = Log();
        const size_t at = log.find("\"event\":\"listening\"");
        if (at == std::string::npos) return false;
        const size_t end = log.find('\n', at);
        if (end == std::string::npos) return false;
        const std::string line = log.substr(at, end - at);
        port_ = JsonInt(line, "port");
        metrics_port_ = JsonInt(line, "metrics_port");
        return true;
      },
      timeout);
}

void ServerProcess::Signal(int signal_number) { kill(pid_, signal_number); }

int ServerProcess::WaitForExit(absl::Duration timeout) {
  if (pid_ <= 0) return exit_status_;
  int& exit_status = exit_status_;
  const bool exited = WaitFor(
      [&] {
        int status = 0;
        const pid_t done = waitpid(pid_, &status, WNOHANG);
        if (done != pid_) return false;
        exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        pid_ = -1;
        return true;
      },
      timeout);
  return exited ? exit_status : -1;
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace squant::server::testing
