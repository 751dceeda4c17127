#include "client/cli/server_channel.h"

#include "client/cli/exit_code.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace squant::cli {
namespace {

using ::testing::HasSubstr;

TEST(ParseServerTargetTest, JoinsAListIntoOneRoundRobinTarget) {
  absl::StatusOr<ServerTarget> target =
      ParseServerTarget("127.0.0.1:5001,127.0.0.2:5002,10.1.2.3:7");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->uri, "ipv4:127.0.0.1:5001,127.0.0.2:5002,10.1.2.3:7");
  EXPECT_EQ(target->addresses, 3);
  EXPECT_FALSE(target->is_dns_name);

  target = ParseServerTarget("[::1]:5001,[::1]:5002");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->uri, "ipv6:[::1]:5001,[::1]:5002");

  // Host names are resolved here; the first names the TLS peer.
  target = ParseServerTarget("localhost:5001,localhost:5002");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_THAT(target->uri, ::testing::StartsWith("ipv"));
  EXPECT_THAT(target->uri, HasSubstr(":5002"));
  EXPECT_EQ(target->tls_name, "localhost");
}

TEST(ParseServerTargetTest, PassesUrisAndSingleAddressesThrough) {
  absl::StatusOr<ServerTarget> target =
      ParseServerTarget("dns:///squant.ml.svc.cluster.local:50051");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->uri, "dns:///squant.ml.svc.cluster.local:50051");
  EXPECT_TRUE(target->is_dns_name);
  EXPECT_EQ(target->tls_name, "squant.ml.svc.cluster.local");

  target = ParseServerTarget("ipv4:127.0.0.1:1,127.0.0.1:2");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->addresses, 2);

  target = ParseServerTarget("quantizer:50051");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->uri, "quantizer:50051");
  EXPECT_TRUE(target->is_dns_name);
}

TEST(ParseServerTargetTest, RejectsMalformedLists) {
  for (const char* bad : {"", ",", "nohostport", "host:", ":50051,a:1"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<ServerTarget> target = ParseServerTarget(bad);
    ASSERT_FALSE(target.ok());
    EXPECT_EQ(ExitCodeOf(target.status()), ExitCode::kUsage);
    EXPECT_THAT(target.status().message(), HasSubstr("--server"));
  }
}

}  // namespace
}  // namespace squant::cli
