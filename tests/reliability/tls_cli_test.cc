// TLS and mutual TLS with the real binaries: squant-server given openssl-made
// certificates, squant-cli and raw gRPC clients against it. Clients that
// do not speak TLS, or have no certificate for an mTLS server, are
// refused; the CLI with the right files gets the same bytes as --local.

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/cli/child_process.h"
#include "tests/cli/test_models.h"
#include "tests/server/test_util.h"

namespace squant::reliability {
namespace {

using server::testing::ServerProcess;

class TlsCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(squant::testing::TempPath("tls"));
    // A CA, a server certificate for 127.0.0.1 and a client certificate.
    const std::string script = absl::StrCat(
        "set -e; mkdir -p ", *dir_, "; cd ", *dir_,
        "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out "
        "ca.pem -days 1 -subj /CN=squant-reliability-ca 2>/dev/null"
        "; for who in server client; do"
        "  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr"
        "   -subj /CN=$who 2>/dev/null;"
        "  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > $who.ext;"
        "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key"
        "   -CAcreateserial -out $who.pem -days 1 -extfile $who.ext"
        "   2>/dev/null; done");
    const std::string script_path = *dir_ + ".sh";
    std::ofstream(script_path) << script;
    ASSERT_EQ(std::system(("bash " + script_path).c_str()), 0);

    input_ = new std::string(squant::testing::TempPath("tls_in.safetensors"));
    ASSERT_TRUE(squant::testing::WriteModel(
                    *input_, {squant::testing::RandomTensor(
                                  "conv.weight", "F32", {16, 8, 3, 3}, 1),
                              squant::testing::RandomTensor("fc.weight", "BF16",
                                                            {10, 64}, 2)})
                    .ok());
    const std::string local =
        squant::testing::TempPath("tls_local.safetensors");
    const squant::testing::RunResult run =
        squant::testing::Run({SQUANT_CLI_PATH, "quantize", "--local", "--input",
                              *input_, "--output", local});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    local_output_ = new std::string(squant::testing::ReadWholeFile(local));
  }

  static std::string File(const std::string& name) {
    return *dir_ + "/" + name;
  }

  static std::vector<std::string> TlsFlags(bool mutual) {
    std::vector<std::string> flags = {"--tls_cert=" + File("server.pem"),
                                      "--tls_key=" + File("server.key")};
    if (mutual) flags.push_back("--tls_client_ca=" + File("ca.pem"));
    return flags;
  }

  // squant-cli quantize through the server with `flags`: its exit code;
  // on success the output must equal --local's.
  static int Quantize(const ServerProcess& server,
                      const std::vector<std::string>& flags) {
    static int run = 0;
    const std::string output =
        squant::testing::TempPath(absl::StrCat("tls_out", run++));
    std::vector<std::string> argv = {
        SQUANT_CLI_PATH, "quantize",
        "--server",      absl::StrCat("127.0.0.1:", server.port()),
        "--input",       *input_,
        "--output",      output};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const squant::testing::RunResult result =
        squant::testing::Run(argv, absl::Seconds(30));
    if (result.exit_code == 0) {
      EXPECT_EQ(squant::testing::ReadWholeFile(output), *local_output_);
    }
    return result.exit_code;
  }

  // GetCapabilities with `credentials`: the call's status.
  static grpc::Status Call(
      const ServerProcess& server,
      std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = v1::QuantizationService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server.port()), credentials));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::GetCapabilitiesResponse response;
    return stub->GetCapabilities(&context, {}, &response);
  }

  static grpc::SslCredentialsOptions Roots(bool with_certificate) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = squant::testing::ReadWholeFile(File("ca.pem"));
    if (with_certificate) {
      options.pem_cert_chain =
          squant::testing::ReadWholeFile(File("client.pem"));
      options.pem_private_key =
          squant::testing::ReadWholeFile(File("client.key"));
    }
    return options;
  }

  static std::string* dir_;
  static std::string* input_;
  static std::string* local_output_;
};

std::string* TlsCliTest::dir_ = nullptr;
std::string* TlsCliTest::input_ = nullptr;
std::string* TlsCliTest::local_output_ = nullptr;

constexpr int kServerError = 3;  // squant-cli's exit code for RPC failures

TEST_F(TlsCliTest, TlsServerRefusesPlaintextAndServesTls) {
  ServerProcess server(TlsFlags(/*mutual=*/false));
  ASSERT_TRUE(server.WaitUntilListening());
  EXPECT_FALSE(Call(server, grpc::InsecureChannelCredentials()).ok());
  EXPECT_EQ(Quantize(server, {}), kServerError);

  EXPECT_TRUE(Call(server, grpc::SslCredentials(Roots(false))).ok());
  EXPECT_EQ(Quantize(server, {"--tls_ca", File("ca.pem")}), 0);
}

TEST_F(TlsCliTest, MutualTlsServerRefusesClientsWithoutCertificate) {
  ServerProcess server(TlsFlags(/*mutual=*/true));
  ASSERT_TRUE(server.WaitUntilListening());
  EXPECT_FALSE(Call(server, grpc::InsecureChannelCredentials()).ok());
  EXPECT_FALSE(Call(server, grpc::SslCredentials(Roots(false))).ok());
  EXPECT_EQ(Quantize(server, {}), kServerError);
  EXPECT_EQ(Quantize(server, {"--tls_ca", File("ca.pem")}), kServerError);

  EXPECT_TRUE(Call(server, grpc::SslCredentials(Roots(true))).ok());
  EXPECT_EQ(
      Quantize(server, {"--tls_ca", File("ca.pem"), "--tls_cert",
                        File("client.pem"), "--tls_key", File("client.key")}),
      0);
}

}  // namespace
}  // namespace squant::reliability
