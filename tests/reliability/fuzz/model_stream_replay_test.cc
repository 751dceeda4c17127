// Replays the fuzzer's committed seed corpus and every regression input
// (crashes found by fuzzing) through ScriptRunner, in every build: the same
// invariants as the fuzzer, without libFuzzer.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/reliability/fuzz/fuzz_sequence.h"
#include "tests/reliability/fuzz/stream_replay.h"

namespace squant::reliability {
namespace {

std::vector<std::filesystem::path> Inputs() {
  std::vector<std::filesystem::path> inputs;
  for (const char* dir :
       {SQUANT_FUZZ_CORPUS_DIR, SQUANT_FUZZ_REGRESSIONS_DIR}) {
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      // Documentation beside the inputs is not an input.
      if (entry.is_regular_file() && name[0] != '.' && !name.ends_with(".md")) {
        inputs.push_back(entry.path());
      }
    }
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

class ModelStreamReplayTest
    : public ::testing::TestWithParam<std::filesystem::path> {
 protected:
  static void SetUpTestSuite() {
    auto started = ScriptRunner::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    runner_ = started->release();
  }
  static void TearDownTestSuite() {
    delete runner_;
    runner_ = nullptr;
  }
  static ScriptRunner* runner_;
};

ScriptRunner* ModelStreamReplayTest::runner_ = nullptr;

TEST_P(ModelStreamReplayTest, HoldsInvariants) {
  ASSERT_NE(runner_, nullptr);
  std::ifstream file(GetParam(), std::ios::binary);
  const std::string input((std::istreambuf_iterator<char>(file)),
                          std::istreambuf_iterator<char>());
  const Script script = DecodeScript(
      {reinterpret_cast<const uint8_t*>(input.data()), input.size()});
  EXPECT_EQ(runner_->Run(script), "") << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, ModelStreamReplayTest, ::testing::ValuesIn(Inputs()),
    [](const ::testing::TestParamInfo<std::filesystem::path>& info) {
      std::string name = info.param.parent_path().filename().string() + "_" +
                         info.param.filename().string();
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

// The corpus must exist: an empty one would make the suite vacuous.
TEST(ModelStreamCorpusTest, SeedsAreCommitted) {
  EXPECT_GE(Inputs().size(), 10u);
}

}  // namespace
}  // namespace squant::reliability
