// squant-modelbench: the SQuant paper's Table 3 networks and a
// Llama-2-7B-shaped model through a running squant-server, against the
// core library in process and the paper's A100 times. See README.md.

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/model_shapes.h"
#include "grpcpp/grpcpp.h"
#include "tools/modelbench/core_throughput.h"
#include "tools/modelbench/large_model.h"
#include "tools/modelbench/model_file.h"
#include "tools/modelbench/table3.h"
#include "tools/modelbench/weight_source.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "gRPC target of the server");
ABSL_FLAG(std::string, model, "table3",
          "table3 (the five networks), one of them (resnet18, resnet50, "
          "inception_v3, sqnxt23_w2, shufflenet_g1_w1), or llama2-7b");
ABSL_FLAG(bool, core_throughput, false,
          "only measure the core in process on one thread (no server)");
ABSL_FLAG(int, reps, 5, "repetitions of each measurement");
ABSL_FLAG(uint64_t, seed, 2022, "seed of the random weights");
ABSL_FLAG(int, window_layers, 8, "most layers in flight on the stream");
ABSL_FLAG(uint64_t, window_bytes, uint64_t{256} << 20,
          "most input bytes of the layers in flight (one layer always goes)");
ABSL_FLAG(int64_t, pool_bytes, int64_t{64} << 20,
          "llama2-7b: size of the random F16 pool chunks are cut from");
ABSL_FLAG(std::string, verify_layers,
          "model.layers.0.self_attn.q_proj.weight,"
          "model.layers.31.mlp.down_proj.weight",
          "llama2-7b: layers checked against the core in process");
ABSL_FLAG(std::string, write_file, "",
          "llama2-7b: write the model as an F16 safetensors file here (the "
          "chunks a default server would be sent) and exit, for squant-cli");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(10),
          "deadline of each QuantizeModel call");

namespace squant::modelbench {
namespace {

absl::StatusOr<std::vector<bench::ModelShapes>> SelectModels(
    const std::string& name) {
  std::vector<bench::ModelShapes> table3 = bench::Table3Models();
  if (name == "table3") return table3;
  std::vector<std::string> known;
  for (bench::ModelShapes& model : table3) {
    if (model.name == name) return std::vector<bench::ModelShapes>{model};
    known.push_back(model.name);
  }
  if (name == "llama2-7b") return std::vector<bench::ModelShapes>{};
  return absl::InvalidArgumentError("--model: unknown model '" + name +
                                    "'; known: table3, " +
                                    absl::StrJoin(known, ", ") + ", llama2-7b");
}

BenchConfig ConfigFromFlags() {
  BenchConfig config;
  config.reps = absl::GetFlag(FLAGS_reps);
  config.seed = absl::GetFlag(FLAGS_seed);
  v1::QuantizationOptions& defaults = *config.stream.options.mutable_defaults();
  defaults.set_bits(config.quant.bits);
  defaults.set_mode(v1::MODE_SQUANT);
  defaults.set_grid(v1::GRID_ASYMMETRIC);
  defaults.set_pack(true);
  config.stream.options.set_model_name("squant-modelbench");
  config.stream.window_layers = absl::GetFlag(FLAGS_window_layers);
  config.stream.window_bytes = absl::GetFlag(FLAGS_window_bytes);
  config.stream.timeout = absl::GetFlag(FLAGS_timeout);
  return config;
}

// The server's default LayerChunk size.
constexpr uint64_t kDefaultChunkBytes = 4 << 20;

absl::Status WriteFile(const std::string& path, const BenchConfig& config) {
  const bench::ModelShapes model = bench::Llama2_7B();
  const F16Pool pool(absl::GetFlag(FLAGS_pool_bytes), config.seed);
  const absl::Time start = absl::Now();
  if (absl::Status status =
          WriteModelFile(path, model, pool, kDefaultChunkBytes);
      !status.ok()) {
    return status;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("wrote %s: %s, %.2f GB of F16 in %.1f s (%.2f GB/s)\n",
              path.c_str(), model.name.c_str(), model.elements() * 2 / 1e9,
              seconds, model.elements() * 2 / 1e9 / seconds);
  return absl::OkStatus();
}

absl::Status Run() {
  BenchConfig config = ConfigFromFlags();
  if (config.reps < 1 || config.stream.window_layers < 1) {
    return absl::InvalidArgumentError(
        "--reps and --window_layers must be >= 1");
  }
  if (absl::GetFlag(FLAGS_core_throughput)) return RunCoreThroughput(config);
  const std::string model = absl::GetFlag(FLAGS_model);
  if (const std::string path = absl::GetFlag(FLAGS_write_file); !path.empty()) {
    if (model != "llama2-7b") {
      return absl::InvalidArgumentError("--write_file needs --model=llama2-7b");
    }
    return WriteFile(path, config);
  }
  absl::StatusOr<std::vector<bench::ModelShapes>> models = SelectModels(model);
  if (!models.ok()) return models.status();

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  const std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      absl::GetFlag(FLAGS_server), grpc::InsecureChannelCredentials(), args);
  absl::StatusOr<ServerInfo> server = AskServer(*channel);
  if (!server.ok()) return server.status();
  config.core_threads = server->workers;
  config.stream.chunk_bytes = server->chunk_bytes;
  std::printf(
      "squant-modelbench: server %s (version %s, %d workers), "
      "chunks of %llu bytes\n",
      absl::GetFlag(FLAGS_server).c_str(), server->version.c_str(),
      server->workers, static_cast<unsigned long long>(server->chunk_bytes));
  if (model != "llama2-7b") return RunTable3(*channel, *models, config);

  LargeModelConfig large{config, absl::GetFlag(FLAGS_pool_bytes),
                         absl::StrSplit(absl::GetFlag(FLAGS_verify_layers), ',',
                                        absl::SkipEmpty())};
  large.bench.stream.dtype = v1::DTYPE_F16;
  if (large.pool_bytes < static_cast<int64_t>(server->chunk_bytes)) {
    return absl::InvalidArgumentError(
        "--pool_bytes must be at least the server's chunk size");
  }
  return RunLargeModel(*channel, bench::Llama2_7B(), large);
}

}  // namespace
}  // namespace squant::modelbench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Streams the SQuant paper's Table 3 networks (or a Llama-2-7B-shaped "
      "model) with random weights through squant-server's QuantizeModel at "
      "4 bits, checks the results against the core in process and prints "
      "end-to-end and core times. Exit code 0 when every run succeeded.");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = squant::modelbench::Run();
  if (!status.ok()) {
    std::cerr << "squant-modelbench: " << status << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
