// TLS and mutual TLS with the real binaries: squant-server given openssl-made
// certificates, squant-cli and raw gRPC clients against it. Clients that
// do not speak TLS, or have no certificate for an mTLS server, are
// refused; the CLI with the right files gets the same bytes as --local.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/cli/child_process.h"
#include "tests/cli/test_models.h"
#include "tests/server/test_util.h"
#include "tests/testing/certificates.h"

namespace squant::reliability {
namespace {

using server::testing::ServerProcess;

class TlsCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<squant::testing::CertificateSet> made =
        squant::testing::MakeCertificates(squant::testing::TempPath("tls"));
    ASSERT_TRUE(made.ok()) << made.status();
    certificates_ = new squant::testing::CertificateSet(*std::move(made));

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

  static std::vector<std::string> TlsFlags(bool mutual) {
    std::vector<std::string> flags = {
        "--tls_cert=" + certificates_->server_certificate.path,
        "--tls_key=" + certificates_->server_key.path};
    if (mutual) flags.push_back("--tls_client_ca=" + certificates_->ca.path);
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
    options.pem_root_certs = certificates_->ca.pem;
    if (with_certificate) {
      options.pem_cert_chain = certificates_->client_certificate.pem;
      options.pem_private_key = certificates_->client_key.pem;
    }
    return options;
  }

  static squant::testing::CertificateSet* certificates_;
  static std::string* input_;
  static std::string* local_output_;
};

squant::testing::CertificateSet* TlsCliTest::certificates_ = nullptr;
std::string* TlsCliTest::input_ = nullptr;
std::string* TlsCliTest::local_output_ = nullptr;

constexpr int kServerError = 3;  // squant-cli's exit code for RPC failures

TEST_F(TlsCliTest, TlsServerRefusesPlaintextAndServesTls) {
  ServerProcess server(TlsFlags(/*mutual=*/false));
  ASSERT_TRUE(server.WaitUntilListening());
  EXPECT_FALSE(Call(server, grpc::InsecureChannelCredentials()).ok());
  EXPECT_EQ(Quantize(server, {}), kServerError);

  EXPECT_TRUE(Call(server, grpc::SslCredentials(Roots(false))).ok());
  EXPECT_EQ(Quantize(server, {"--tls_ca", certificates_->ca.path}), 0);
}

TEST_F(TlsCliTest, MutualTlsServerRefusesClientsWithoutCertificate) {
  ServerProcess server(TlsFlags(/*mutual=*/true));
  ASSERT_TRUE(server.WaitUntilListening());
  EXPECT_FALSE(Call(server, grpc::InsecureChannelCredentials()).ok());
  EXPECT_FALSE(Call(server, grpc::SslCredentials(Roots(false))).ok());
  EXPECT_EQ(Quantize(server, {}), kServerError);
  EXPECT_EQ(Quantize(server, {"--tls_ca", certificates_->ca.path}),
            kServerError);

  EXPECT_TRUE(Call(server, grpc::SslCredentials(Roots(true))).ok());
  EXPECT_EQ(Quantize(server, {"--tls_ca", certificates_->ca.path, "--tls_cert",
                              certificates_->client_certificate.path,
                              "--tls_key", certificates_->client_key.path}),
            0);
}

}  // namespace
}  // namespace squant::reliability
