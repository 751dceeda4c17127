// squant-loadgen: a load generator for squant-server's QuantizeModel (what
// ghz is for other gRPC services). See tools/loadgen/README.md.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"
#include "tools/loadgen/load_run.h"
#include "tools/loadgen/model_mix.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "gRPC target of the server");
ABSL_FLAG(int, streams, 4,
          "concurrent QuantizeModel streams, one connection each");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "stop starting models after this long (streams finish their model)");
ABSL_FLAG(int64_t, requests, 0,
          "stop after this many models in all (0: no limit; with "
          "--duration=inf, a fixed count)");
ABSL_FLAG(
    std::string, mix, "small=3,resnet50=1",
    "models and their weights: small (4 tiny layers), resnet18, resnet50");
ABSL_FLAG(uint32_t, bits, 4, "bits per weight, 2..8");
ABSL_FLAG(int64_t, chunk_bytes, 4 << 20, "LayerChunk size in bytes");
ABSL_FLAG(absl::Duration, request_timeout, absl::Seconds(120),
          "deadline of each model's stream");
ABSL_FLAG(uint32_t, seed, 1, "seed of the weights and of the model picks");
ABSL_FLAG(std::string, tls_ca, "", "PEM roots to verify the server (TLS)");
ABSL_FLAG(std::string, tls_cert, "", "client certificate (mutual TLS)");
ABSL_FLAG(std::string, tls_key, "", "client key (mutual TLS)");
ABSL_FLAG(std::string, json_out, "", "also write the report as JSON here");

namespace {

using squant::loadgen::LoadReport;
using squant::loadgen::Percentile;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

std::shared_ptr<grpc::ChannelCredentials> Credentials() {
  if (absl::GetFlag(FLAGS_tls_ca).empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(absl::GetFlag(FLAGS_tls_ca));
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    options.pem_cert_chain = ReadFile(absl::GetFlag(FLAGS_tls_cert));
    options.pem_private_key = ReadFile(absl::GetFlag(FLAGS_tls_key));
  }
  return grpc::SslCredentials(options);
}

void PrintText(const LoadReport& report,
               const squant::loadgen::LoadConfig& config) {
  const double mb = 1e6;
  std::printf("squant-loadgen: %s, %d streams, %.1f s, mix %s\n",
              config.server.c_str(), config.streams, report.seconds,
              absl::GetFlag(FLAGS_mix).c_str());
  std::printf("requests: %lld ok, %lld failed (%.2f/s)\n",
              static_cast<long long>(report.requests_ok),
              static_cast<long long>(report.requests_failed),
              report.requests_ok / report.seconds);
  std::printf("layers: %lld (%.1f/s)\n", static_cast<long long>(report.layers),
              report.layers / report.seconds);
  std::printf("bytes: %.1f MB sent (%.1f MB/s), %.1f MB received (%.1f MB/s)\n",
              report.bytes_sent / mb, report.bytes_sent / mb / report.seconds,
              report.bytes_received / mb,
              report.bytes_received / mb / report.seconds);
  std::printf("errors: %s\n",
              report.errors.empty()
                  ? "none"
                  : absl::StrJoin(report.errors, ", ", absl::PairFormatter("="))
                        .c_str());
  std::printf("%-10s %8s %9s %9s %9s %9s\n", "model", "ok", "p50 s", "p90 s",
              "p99 s", "max s");
  for (const auto& model : report.latencies) {
    std::printf("%-10s %8zu %9.4f %9.4f %9.4f %9.4f\n", model.model.c_str(),
                model.seconds.size(), Percentile(model.seconds, 50),
                Percentile(model.seconds, 90), Percentile(model.seconds, 99),
                Percentile(model.seconds, 100));
  }
}

std::string Json(const LoadReport& report) {
  std::string errors = absl::StrJoin(
      report.errors, ",", [](std::string* out, const auto& error) {
        absl::StrAppendFormat(out, "\"%s\":%d", error.first, error.second);
      });
  std::string models = absl::StrJoin(
      report.latencies, ",", [](std::string* out, const auto& model) {
        absl::StrAppendFormat(
            out,
            "\"%s\":{\"ok\":%d,\"p50_seconds\":%.6f,\"p90_seconds\":%.6f,"
            "\"p99_seconds\":%.6f,\"max_seconds\":%.6f}",
            model.model, model.seconds.size(), Percentile(model.seconds, 50),
            Percentile(model.seconds, 90), Percentile(model.seconds, 99),
            Percentile(model.seconds, 100));
      });
  return absl::StrFormat(
      "{\"seconds\":%.3f,\"requests_ok\":%d,\"requests_failed\":%d,"
      "\"layers\":%d,\"bytes_sent\":%d,\"bytes_received\":%d,"
      "\"errors\":{%s},\"models\":{%s}}\n",
      report.seconds, report.requests_ok, report.requests_failed, report.layers,
      report.bytes_sent, report.bytes_received, errors, models);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Drives squant-server's QuantizeModel with concurrent streams and "
      "reports requests, layers, bytes/s, errors by code and per-model "
      "latency percentiles. Exit code 0 when no request failed.");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<squant::loadgen::ModelMix> mix =
      squant::loadgen::ModelMix::Parse(absl::GetFlag(FLAGS_mix),
                                       absl::GetFlag(FLAGS_seed));
  if (!mix.ok()) {
    std::cerr << "squant-loadgen: " << mix.status().message() << "\n";
    return 2;
  }
  squant::loadgen::LoadConfig config;
  config.server = absl::GetFlag(FLAGS_server);
  config.credentials = Credentials();
  config.streams = absl::GetFlag(FLAGS_streams);
  config.duration = absl::GetFlag(FLAGS_duration);
  config.max_requests = absl::GetFlag(FLAGS_requests);
  config.chunk_bytes = absl::GetFlag(FLAGS_chunk_bytes);
  config.request_timeout = absl::GetFlag(FLAGS_request_timeout);
  config.options.mutable_defaults()->set_bits(absl::GetFlag(FLAGS_bits));
  config.options.set_model_name("squant-loadgen");
  config.seed = absl::GetFlag(FLAGS_seed);
  if (config.streams < 1 || config.chunk_bytes < 1) {
    std::cerr << "squant-loadgen: --streams and --chunk_bytes must be >= 1\n";
    return 2;
  }
  const LoadReport report = squant::loadgen::RunLoad(config, *mix);
  PrintText(report, config);
  if (const std::string path = absl::GetFlag(FLAGS_json_out); !path.empty()) {
    std::ofstream(path) << Json(report);
  }
  return report.requests_failed == 0 && report.requests_ok > 0 ? 0 : 1;
}
