#include "client/cli/command_line.h"

#include <vector>

#include "client/cli/exit_code.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace squant::cli {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<Command> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "squant-cli");
  return ParseCommandLine(static_cast<int>(args.size()), args.data());
}

TEST(CommandLineTest, ParsesEveryQuantizeFlag) {
  absl::StatusOr<Command> command = Parse({"quantize",
                                           "--server=a:1,b:2",
                                           "--input",
                                           "in",
                                           "--output",
                                           "out",
                                           "--bits",
                                           "3",
                                           "--mode=squant-k",
                                           "--grid",
                                           "symmetric",
                                           "--pack",
                                           "--include",
                                           "conv",
                                           "--include=fc",
                                           "--exclude",
                                           "bias",
                                           "--bits_override",
                                           "^conv1\\.=8",
                                           "--bits_override",
                                           "a=b=6",
                                           "--streams",
                                           "5",
                                           "--timeout",
                                           "90s",
                                           "--json",
                                           "--tls_ca",
                                           "ca.pem"});
  ASSERT_TRUE(command.ok()) << command.status();
  const QuantizeCommand& quantize = std::get<QuantizeCommand>(*command);
  EXPECT_EQ(quantize.server, "a:1,b:2");
  EXPECT_EQ(quantize.defaults.bits, 3);
  EXPECT_EQ(quantize.defaults.mode, Mode::kSquantK);
  EXPECT_EQ(quantize.defaults.grid, Grid::kSymmetric);
  EXPECT_TRUE(quantize.pack);
  EXPECT_THAT(quantize.include, ::testing::ElementsAre("conv", "fc"));
  ASSERT_EQ(quantize.bits_overrides.size(), 2u);
  EXPECT_EQ(quantize.bits_overrides[0].pattern, "^conv1\\.");
  EXPECT_EQ(quantize.bits_overrides[0].bits, 8);
  EXPECT_EQ(quantize.bits_overrides[1].pattern, "a=b");  // the last '=' splits
  EXPECT_EQ(quantize.streams, 5);
  EXPECT_EQ(quantize.timeout, absl::Seconds(90));
  EXPECT_TRUE(quantize.json);
  EXPECT_TRUE(quantize.tls.enabled());
}

TEST(CommandLineTest, UsageErrorsNameTheFlag) {
  const std::vector<std::pair<std::vector<const char*>, const char*>> cases = {
      {{"quantize", "--local", "--input", "i", "--output", "o", "--streams",
        "0"},
       "--streams"},
      {{"quantize", "--local", "--input", "i", "--output", "o", "--bits"},
       "--bits needs a value"},
      {{"quantize", "--local", "--input", "i", "--output", "o", "--pack=yes"},
       "--pack takes no value"},
      {{"quantize", "--server", "a:1", "--input", "i", "--output", "o",
        "--tls_cert", "c.pem"},
       "--tls_cert and --tls_key"},
      {{"quantize", "--local", "--input", "i", "--output", "o",
        "--bits_override", "=4"},
       "REGEX=BITS"},
      {{"inspect"}, "FILE"},
      {{"inspect", "a", "b"}, "unexpected argument 'b'"},
  };
  for (const auto& [args, message] : cases) {
    SCOPED_TRACE(message);
    absl::StatusOr<Command> command = Parse(args);
    ASSERT_FALSE(command.ok());
    EXPECT_EQ(ExitCodeOf(command.status()), ExitCode::kUsage);
    EXPECT_THAT(command.status().message(), HasSubstr(message));
  }
}

}  // namespace
}  // namespace squant::cli
