// squant-cli against real squant-server processes on loopback: the output
// equals --local byte for byte, golden vectors hold, layers spread over
// replicas, and a replica killed mid-run costs nothing but a retry.

#include <signal.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_runner.h"
#include "tests/cli/golden_cases.h"
#include "tests/cli/server_process.h"
#include "tests/cli/test_models.h"

namespace squant::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<ServerProcess> StartServer(
    const std::string& name, const std::vector<std::string>& flags = {}) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(name, flags);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// `layers` conv layers of [channels, 64, 3, 3] in F32, F16 and BF16 turn
// about, with a bias each.
std::string WriteConvModel(const std::string& name, int layers,
                           int64_t channels) {
  std::vector<TensorData> tensors;
  const char* dtypes[] = {"F32", "F16", "BF16"};
  for (int i = 0; i < layers; ++i) {
    tensors.push_back(RandomTensor(absl::StrCat("layer", i, ".weight"),
                                   dtypes[i % 3], {channels, 64, 3, 3},
                                   100 + i));
    tensors.push_back(RandomTensor(absl::StrCat("layer", i, ".bias"), "F32",
                                   {channels}, 500 + i));
  }
  const std::string path = TempPath(name);
  EXPECT_TRUE(WriteModel(path, tensors).ok());
  return path;
}

// The --local output for `input` and `flags`: what every remote run must
// reproduce byte for byte. Written to this process's own folder: inputs
// may be the repository's samples, which tests running at the same time
// also read.
std::string LocalOutput(const std::string& input,
                        const std::vector<std::string>& flags = {}) {
  const std::string output = TempPath(absl::StrCat(
      std::filesystem::path(input).filename().string(), ".local.safetensors"));
  std::vector<std::string> args = {"quantize", "--local",  "--input",
                                   input,      "--output", output};
  args.insert(args.end(), flags.begin(), flags.end());
  const RunResult run = RunCli(args);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  return ReadWholeFile(output);
}

TEST(CliServerTest, SampleAndMixedDtypesEqualLocal) {
  std::unique_ptr<ServerProcess> server = StartServer("server");
  ASSERT_NE(server, nullptr);
  const std::string mixed = WriteConvModel("mixed.safetensors", 6, 24);
  for (const std::string& input :
       {SamplePath("digits_cnn.safetensors"), mixed}) {
    for (const std::vector<std::string>& flags :
         {std::vector<std::string>{},
          {"--bits", "3", "--mode", "squant-c"},
          {"--pack", "--grid", "symmetric"},
          {"--bits", "8"}}) {
      SCOPED_TRACE(absl::StrCat(input, " ", absl::StrJoin(flags, " ")));
      const std::string output = TempPath("remote.safetensors");
      std::vector<std::string> args = {
          "quantize", "--server", server->address(), "--input", input,
          "--output", output,     "--json"};
      args.insert(args.end(), flags.begin(), flags.end());
      const RunResult run = RunCli(args);
      ASSERT_EQ(run.exit_code, 0) << run.err;
      EXPECT_EQ(ReadWholeFile(output), LocalOutput(input, flags));
      const nlohmann::json report = nlohmann::json::parse(run.out);
      for (const nlohmann::json& layer : report["layers"]) {
        EXPECT_THAT(layer["worker"].get<std::string>(),
                    HasSubstr(absl::StrCat(server->port())));
        EXPECT_GT(layer["elements"].get<int64_t>(), 0);
      }
    }
  }
}

TEST(CliServerTest, EveryGoldenCaseMatchesThroughTheServer) {
  std::unique_ptr<ServerProcess> server = StartServer("server");
  ASSERT_NE(server, nullptr);
  const std::vector<GoldenCase> cases = GoldenCases();
  ASSERT_GE(cases.size(), 43u) << "golden folder: " << SQUANT_GOLDEN_DIR;
  for (const GoldenCase& golden : cases) {
    SCOPED_TRACE(golden.path);
    ASSERT_FALSE(golden.bits.empty()) << "unreadable golden case";
    const std::string input = TempPath("golden_in.safetensors");
    const std::string output = TempPath("golden_out.safetensors");
    ASSERT_TRUE(WriteGoldenInput(golden, input).ok());
    const RunResult run = RunCli(
        {"quantize", "--server", server->address(), "--input", input,
         "--output", output, "--bits", golden.bits, "--mode", golden.mode});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const absl::Status check = CheckAgainstGolden(golden, output);
    EXPECT_TRUE(check.ok()) << check;
  }
}

TEST(CliServerTest, ThreeServersShareTheLayers) {
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(StartServer(absl::StrCat("server", i)));
    ASSERT_NE(servers.back(), nullptr);
    addresses.push_back(servers.back()->address());
  }
  // Enough layers that the run outlasts every subchannel's connection:
  // round_robin only picks servers already connected when a stream opens.
  constexpr int kLayers = 192;
  const std::string input = WriteConvModel("wide.safetensors", kLayers, 256);
  const std::string output = TempPath("wide.q.safetensors");
  const RunResult run =
      RunCli({"quantize", "--server", absl::StrJoin(addresses, ","), "--input",
              input, "--output", output, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ReadWholeFile(output), LocalOutput(input));
  EXPECT_EQ(nlohmann::json::parse(run.out)["streams"], 6);
  double total = 0;
  for (const std::unique_ptr<ServerProcess>& server : servers) {
    absl::StatusOr<double> layers = server->LayersQuantized();
    ASSERT_TRUE(layers.ok()) << layers.status();
    EXPECT_GE(*layers, 1) << server->address() << " did no work";
    total += *layers;
  }
  EXPECT_EQ(total, kLayers);
}

// Three replicas quantize a model while one of them is stopped with
// `signal` once it has finished a layer; returns the CLI's JSON report.
nlohmann::json RunWithAReplicaStopped(int signal) {
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    servers.push_back(StartServer(absl::StrCat("server", i), {"--workers=1"}));
    if (servers.back() == nullptr) return {};
    addresses.push_back(servers.back()->address());
  }
  const std::string input = WriteConvModel("big.safetensors", 96, 256);
  const std::string expected = LocalOutput(input);
  const std::string output = TempPath("big.q.safetensors");
  absl::StatusOr<ChildProcess> cli = ChildProcess::Start(
      {SQUANT_CLI_PATH, "quantize", "--server", absl::StrJoin(addresses, ","),
       "--input", input, "--output", output, "--json", "--timeout", "240s"},
      TempPath("cli"));
  EXPECT_TRUE(cli.ok()) << cli.status();
  if (!cli.ok()) return {};

  ServerProcess& victim = *servers[1];
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    absl::StatusOr<double> layers = victim.LayersQuantized();
    if (layers.ok() && *layers >= 1) break;
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_TRUE(cli->Running())
      << "the run ended before the replica stopped: make the model bigger. "
      << cli->Stderr();
  victim.process().Signal(signal);

  absl::StatusOr<int> exit_code = cli->Wait(absl::Seconds(240));
  EXPECT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(exit_code.value_or(-1), 0) << cli->Stderr();
  EXPECT_EQ(ReadWholeFile(output), expected);
  for (const int survivor : {0, 2}) {
    absl::StatusOr<double> layers = servers[survivor]->LayersQuantized();
    EXPECT_TRUE(layers.ok() && *layers >= 1) << "survivor " << survivor;
  }
  return nlohmann::json::parse(cli->Stdout(), nullptr, false);
}

TEST(CliServerTest, AServerKilledMidRunCostsOnlyARetry) {
  const nlohmann::json report = RunWithAReplicaStopped(SIGKILL);
  ASSERT_TRUE(report.is_object());
  // The killed replica's unfinished layers went to another stream.
  EXPECT_GE(report["stream_retries"].get<int>(), 1);
}

TEST(CliServerTest, AServerDrainingMidRunLosesNothing) {
  // SIGTERM: the replica finishes its streams and refuses new ones with
  // UNAVAILABLE, which the CLI takes to the other replicas.
  const nlohmann::json report = RunWithAReplicaStopped(SIGTERM);
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["totals"]["quantized_tensors"], 96);
}

TEST(CliServerTest, ServerSideErrorsMapToExitCodes) {
  std::unique_ptr<ServerProcess> server = StartServer("server");
  ASSERT_NE(server, nullptr);
  const std::string output = TempPath("out.safetensors");

  // A NaN is rejected by the server with INVALID_ARGUMENT naming the layer.
  TensorData bad = RandomTensor("blocks.7.weight", "F32", {4, 6}, 9);
  const float nan = std::nanf("");
  std::memcpy(bad.bytes.data() + 4 * 5, &nan, 4);
  const std::string nan_model = TempPath("nan.safetensors");
  ASSERT_TRUE(WriteModel(nan_model, {bad}).ok());
  RunResult run = RunCli({"quantize", "--server", server->address(), "--input",
                          nan_model, "--output", output});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_THAT(run.err, HasSubstr("blocks.7.weight"));
  EXPECT_FALSE(std::filesystem::exists(output));

  // Nobody listens on a port a server had and gave up.
  std::string closed;
  {
    std::unique_ptr<ServerProcess> gone = StartServer("gone");
    ASSERT_NE(gone, nullptr);
    closed = gone->address();
  }
  run = RunCli({"quantize", "--server", closed, "--input",
                SamplePath("digits_cnn.safetensors"), "--output", output});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_THAT(run.err, HasSubstr("cannot reach the server"));

  // A deadline too short for the work.
  const std::string big = WriteConvModel("slow.safetensors", 24, 512);
  run = RunCli({"quantize", "--server", server->address(), "--input", big,
                "--output", output, "--timeout", "20ms"});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_THAT(run.err,
              ::testing::AnyOf(HasSubstr("timeout"), HasSubstr("Deadline")));
  EXPECT_FALSE(std::filesystem::exists(output));
}

// Certificates made with openssl for the test: a CA, a server certificate
// for localhost / 127.0.0.1 and a client certificate.
struct TestCertificates {
  std::string ca, server_cert, server_key, client_cert, client_key;
};

std::optional<TestCertificates> MakeCertificates() {
  const std::string dir = TempPath("pki");
  std::filesystem::create_directories(dir);
  TestCertificates pki{dir + "/ca.pem", dir + "/server.pem",
                       dir + "/server.key", dir + "/client.pem",
                       dir + "/client.key"};
  const std::string san = dir + "/san.ext";
  std::ofstream(san) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  const std::string openssl = "/usr/bin/openssl";
  const std::vector<std::vector<std::string>> steps = {
      {openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
       dir + "/ca.key", "-out", pki.ca, "-days", "2", "-subj", "/CN=test-ca"},
      {openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
       pki.server_key, "-out", dir + "/server.csr", "-subj", "/CN=localhost"},
      {openssl, "x509", "-req", "-in", dir + "/server.csr", "-CA", pki.ca,
       "-CAkey", dir + "/ca.key", "-CAcreateserial", "-out", pki.server_cert,
       "-days", "2", "-extfile", san},
      {openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
       pki.client_key, "-out", dir + "/client.csr", "-subj", "/CN=client"},
      {openssl, "x509", "-req", "-in", dir + "/client.csr", "-CA", pki.ca,
       "-CAkey", dir + "/ca.key", "-CAcreateserial", "-out", pki.client_cert,
       "-days", "2"},
  };
  for (const std::vector<std::string>& step : steps) {
    const RunResult run = Run(step);
    if (run.exit_code != 0) {
      ADD_FAILURE() << "openssl failed: " << run.err;
      return std::nullopt;
    }
  }
  return pki;
}

TEST(CliServerTest, MutualTls) {
  if (!std::filesystem::exists("/usr/bin/openssl")) {
    GTEST_SKIP() << "needs /usr/bin/openssl to make certificates";
  }
  const std::optional<TestCertificates> pki = MakeCertificates();
  ASSERT_TRUE(pki.has_value());
  std::unique_ptr<ServerProcess> server =
      StartServer("tls_server", {"--tls_cert=" + pki->server_cert,
                                 "--tls_key=" + pki->server_key,
                                 "--tls_client_ca=" + pki->ca});
  ASSERT_NE(server, nullptr);
  const std::string input = SamplePath("digits_cnn.safetensors");
  const std::string output = TempPath("tls.safetensors");
  for (const std::string& address :
       {server->address(), absl::StrCat("localhost:", server->port())}) {
    SCOPED_TRACE(address);
    const RunResult run =
        RunCli({"quantize", "--server", address, "--input", input, "--output",
                output, "--tls_ca", pki->ca, "--tls_cert", pki->client_cert,
                "--tls_key", pki->client_key});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(ReadWholeFile(output), LocalOutput(input));
  }
  // Without a client certificate, or in plaintext, the server refuses.
  for (const std::vector<std::string>& tls :
       {std::vector<std::string>{"--tls_ca", pki->ca},
        std::vector<std::string>{}}) {
    std::vector<std::string> args = {"quantize", "--server", server->address(),
                                     "--input",  input,      "--output",
                                     output};
    args.insert(args.end(), tls.begin(), tls.end());
    const RunResult run = RunCli(args);
    EXPECT_EQ(run.exit_code, 3) << run.err;
    EXPECT_THAT(run.err, HasSubstr("cannot reach the server"));
  }
}

}  // namespace
}  // namespace squant::testing
