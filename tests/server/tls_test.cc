// TLS and mutual TLS, with certificates made by openssl for the test.

#include <unistd.h>

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/test_util.h"
#include "tests/testing/certificates.h"

namespace squant::server::testing {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One folder per process: ctest runs each test case as its own process,
    // in parallel, and a shared folder would mix two runs' CAs.
    absl::StatusOr<squant::testing::CertificateSet> made =
        squant::testing::MakeCertificates(
            absl::StrCat(::testing::TempDir(), "squant_tls_test_", getpid()));
    ASSERT_TRUE(made.ok()) << made.status();
    certificates_ = new squant::testing::CertificateSet(*std::move(made));
  }

  // GetCapabilities over `credentials`; the call's status.
  static grpc::Status Call(
      int port, std::shared_ptr<grpc::ChannelCredentials> credentials) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = v1::QuantizationService::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port), credentials, args));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::GetCapabilitiesResponse response;
    return stub->GetCapabilities(&context, v1::GetCapabilitiesRequest(),
                                 &response);
  }

  static grpc::SslCredentialsOptions TrustingCa() {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = certificates_->ca.pem;
    return options;
  }

  static squant::testing::CertificateSet* certificates_;
};
squant::testing::CertificateSet* TlsTest::certificates_ = nullptr;

TEST_F(TlsTest, ServesTlsAndRefusesPlaintext) {
  ServerConfig config = TestConfig();
  config.tls_cert = certificates_->server_certificate.path;
  config.tls_key = certificates_->server_key.path;
  std::unique_ptr<SquantServer> server = StartServer(config);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(Call(server->port(), grpc::SslCredentials(TrustingCa())).ok());
  EXPECT_FALSE(Call(server->port(), grpc::InsecureChannelCredentials()).ok());
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  ServerConfig config = TestConfig();
  config.tls_cert = certificates_->server_certificate.path;
  config.tls_key = certificates_->server_key.path;
  config.tls_client_ca = certificates_->ca.path;
  std::unique_ptr<SquantServer> server = StartServer(config);
  ASSERT_NE(server, nullptr);
  EXPECT_FALSE(Call(server->port(), grpc::SslCredentials(TrustingCa())).ok());
  grpc::SslCredentialsOptions with_certificate = TrustingCa();
  with_certificate.pem_cert_chain = certificates_->client_certificate.pem;
  with_certificate.pem_private_key = certificates_->client_key.pem;
  const grpc::Status status =
      Call(server->port(), grpc::SslCredentials(with_certificate));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(TlsConfigTest, KeyWithoutCertificateIsRejected) {
  ServerConfig config = TestConfig();
  config.tls_key = "/nonexistent.key";
  EXPECT_FALSE(SquantServer::Start(config).ok());
}

}  // namespace
}  // namespace squant::server::testing
