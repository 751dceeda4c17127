// squant-cli without a server: golden vectors, the output schema, inspect
// and dequantize, selection, and every kind of bad input or command line.

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/squant.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "safetensors/safetensors.h"
#include "tests/cli/cli_runner.h"
#include "tests/cli/golden_cases.h"
#include "tests/cli/test_models.h"

namespace squant::testing {
namespace {

using ::testing::HasSubstr;

safetensors::MappedFile Open(const std::string& path) {
  absl::StatusOr<safetensors::MappedFile> file =
      safetensors::MappedFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return *std::move(file);
}

// A model with quantizable F32, F16 and BF16 tensors and tensors that must
// be copied: rank 1, integer.
std::vector<TensorData> MixedModel() {
  TensorData ids{"ids", "I32", {4}, std::vector<uint8_t>(16, 7)};
  return {RandomTensor("a.weight", "F32", {8, 4, 3, 3}, 1),
          RandomTensor("a.bias", "F32", {8}, 2),
          RandomTensor("b.weight", "F16", {16, 9}, 3),
          RandomTensor("c.weight", "BF16", {6, 5, 2, 2}, 4),
          RandomTensor("norm", "BF16", {5}, 5),
          ids};
}

TEST(CliGoldenTest, EveryGoldenCaseMatchesLocally) {
  const std::vector<GoldenCase> cases = GoldenCases();
  ASSERT_GE(cases.size(), 43u) << "golden folder: " << SQUANT_GOLDEN_DIR;
  for (const GoldenCase& golden : cases) {
    SCOPED_TRACE(golden.path);
    ASSERT_FALSE(golden.bits.empty()) << "unreadable golden case";
    const std::string input = TempPath("golden_in.safetensors");
    const std::string output = TempPath("golden_out.safetensors");
    ASSERT_TRUE(WriteGoldenInput(golden, input).ok());
    const RunResult run =
        RunCli({"quantize", "--local", "--input", input, "--output", output,
                "--bits", golden.bits, "--mode", golden.mode});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const absl::Status check = CheckAgainstGolden(golden, output);
    EXPECT_TRUE(check.ok()) << check;
  }
}

TEST(CliQuantizeTest, OutputFollowsTheSchemaAndEqualsTheCore) {
  const std::string input = TempPath("mixed.safetensors");
  const std::string output = TempPath("mixed.q.safetensors");
  ASSERT_TRUE(WriteModel(input, MixedModel()).ok());
  const RunResult run = RunCli({"quantize", "--local", "--input", input,
                                "--output", output, "--bits", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("b.weight"));
  EXPECT_THAT(run.out, HasSubstr("3 tensors quantized, 3 copied"));

  safetensors::MappedFile in = Open(input);
  safetensors::MappedFile out = Open(output);
  for (const char* name : {"a.bias", "norm", "ids"}) {
    SCOPED_TRACE(name);
    ASSERT_NE(out.Find(name), nullptr);
    EXPECT_EQ(out.Find(name)->dtype, in.Find(name)->dtype);
    EXPECT_TRUE(
        std::ranges::equal(out.Data(*out.Find(name)), in.Data(*in.Find(name))));
  }
  for (const char* name : {"a.weight", "b.weight", "c.weight"}) {
    SCOPED_TRACE(name);
    const safetensors::TensorInfo& tensor = *in.Find(name);
    ASSERT_EQ(out.Find(name), nullptr);
    const safetensors::TensorInfo* qweight =
        out.Find(absl::StrCat(name, ".qweight"));
    const safetensors::TensorInfo* scale =
        out.Find(absl::StrCat(name, ".scale"));
    const safetensors::TensorInfo* zero =
        out.Find(absl::StrCat(name, ".zero_point"));
    ASSERT_TRUE(qweight && scale && zero);
    EXPECT_EQ(qweight->dtype, "I8");
    EXPECT_EQ(qweight->shape, tensor.shape);
    EXPECT_EQ(scale->dtype, "F32");
    EXPECT_EQ(zero->dtype, "I32");
    EXPECT_EQ(scale->shape, std::vector<int64_t>{tensor.shape[0]});

    QuantOptions options;
    options.bits = 3;
    absl::StatusOr<QuantizedLayer> expected = Quantize(
        {*ParseDType(tensor.dtype), tensor.shape, in.Data(tensor)}, options);
    ASSERT_TRUE(expected.ok()) << expected.status();
    EXPECT_EQ(Values<int8_t>(out, qweight->name), expected->values);
    EXPECT_EQ(Values<float>(out, scale->name), expected->scale);
    EXPECT_EQ(Values<int32_t>(out, zero->name), expected->zero_point);
  }
  EXPECT_EQ(out.metadata().at("quantization_method"), "squant");
  EXPECT_EQ(out.metadata().at("squant.bits"), "3");
  EXPECT_EQ(out.metadata().at("squant.mode"), "squant");
  EXPECT_EQ(out.metadata().at("squant.grid"), "asymmetric");
  EXPECT_THAT(out.metadata().at("squant.tool_version"),
              HasSubstr("squant-cli"));

  // Same input and flags: the same bytes.
  const std::string again = TempPath("mixed.q2.safetensors");
  ASSERT_EQ(RunCli({"quantize", "--local", "--input", input, "--output", again,
                    "--bits", "3", "--threads", "1"})
                .exit_code,
            0);
  EXPECT_EQ(ReadWholeFile(again), ReadWholeFile(output));
}

TEST(CliQuantizeTest, SelectionOverridesAndSymmetricGrid) {
  const std::string input = TempPath("mixed.safetensors");
  const std::string output = TempPath("mixed.q.safetensors");
  ASSERT_TRUE(WriteModel(input, MixedModel()).ok());
  const RunResult run =
      RunCli({"quantize", "--local", "--input", input, "--output", output,
              "--exclude", "^c\\.", "--bits_override", "^a\\.=8",
              "--bits_override", "weight=2", "--grid", "symmetric", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json report = nlohmann::json::parse(run.out);
  ASSERT_EQ(report["layers"].size(), 2u);
  EXPECT_EQ(report["layers"][0]["name"], "a.weight");
  EXPECT_EQ(report["layers"][0]["bits"], 8);  // the first match wins
  EXPECT_EQ(report["layers"][1]["bits"], 2);
  EXPECT_EQ(report["layers"][1]["grid"], "symmetric");

  safetensors::MappedFile in = Open(input);
  safetensors::MappedFile out = Open(output);
  ASSERT_NE(out.Find("c.weight"), nullptr);
  EXPECT_TRUE(std::ranges::equal(out.Data(*out.Find("c.weight")),
                                 in.Data(*in.Find("c.weight"))));
  for (int32_t zero : Values<int32_t>(out, "b.weight.zero_point")) {
    EXPECT_EQ(zero, 0);
  }
  for (int8_t q : Values<int8_t>(out, "b.weight.qweight")) {
    EXPECT_GE(q, -1);  // 2-bit symmetric grid: [-1, 1]
    EXPECT_LE(q, 1);
  }
  const nlohmann::json layers =
      nlohmann::json::parse(out.metadata().at("squant.layers"));
  EXPECT_EQ(layers["a.weight"]["bits"], 8);
  EXPECT_FALSE(layers.contains("c.weight"));
  EXPECT_THAT(out.metadata().at("squant.bits_overrides"), HasSubstr("^a\\\\."));

  const RunResult none = RunCli({"quantize", "--local", "--input", input,
                                 "--output", output, "--include", "nothing"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("--include matches no"));
}

TEST(CliInspectDequantizeTest, RoundTripOnTheSample) {
  const std::string sample = SamplePath("digits_cnn.safetensors");
  const std::string quantized = TempPath("digits.q.safetensors");
  const std::string packed = TempPath("digits.p.safetensors");
  const std::string restored = TempPath("digits.f.safetensors");
  const std::string restored_packed = TempPath("digits.pf.safetensors");
  ASSERT_EQ(RunCli({"quantize", "--local", "--input", sample, "--output",
                    quantized, "--mode", "squant-k"})
                .exit_code,
            0);
  ASSERT_EQ(RunCli({"quantize", "--local", "--input", sample, "--output",
                    packed, "--mode", "squant-k", "--pack"})
                .exit_code,
            0);

  const RunResult inspect = RunCli({"inspect", quantized, "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  const nlohmann::json listing = nlohmann::json::parse(inspect.out);
  int described = 0;
  for (const nlohmann::json& tensor : listing["tensors"]) {
    if (!tensor.contains("quantization")) continue;
    ++described;
    EXPECT_EQ(tensor["quantization"]["bits"], 4);
    EXPECT_EQ(tensor["quantization"]["mode"], "squant-k");
    EXPECT_EQ(tensor["quantization"]["grid"], "asymmetric");
  }
  EXPECT_EQ(described, 4);
  const RunResult table = RunCli({"inspect", packed});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out,
              HasSubstr("4-bit squant-k asymmetric packed of F32 [64,512]"));

  ASSERT_EQ(RunCli({"dequantize", "--input", quantized, "--output", restored})
                .exit_code,
            0);
  const RunResult unpack =
      RunCli({"dequantize", "--input", packed, "--output", restored_packed});
  ASSERT_EQ(unpack.exit_code, 0) << unpack.err;

  safetensors::MappedFile in = Open(sample);
  safetensors::MappedFile q = Open(quantized);
  safetensors::MappedFile p = Open(packed);
  safetensors::MappedFile f = Open(restored);
  safetensors::MappedFile pf = Open(restored_packed);
  ASSERT_EQ(f.tensors().size(), in.tensors().size());
  for (const safetensors::TensorInfo& tensor : in.tensors()) {
    SCOPED_TRACE(tensor.name);
    const safetensors::TensorInfo* back = f.Find(tensor.name);
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(back->dtype, "F32");
    EXPECT_EQ(back->shape, tensor.shape);
    EXPECT_TRUE(
        std::ranges::equal(f.Data(*back), pf.Data(*pf.Find(tensor.name))));
    if (tensor.shape.size() < 2) {
      EXPECT_TRUE(std::ranges::equal(f.Data(*back), in.Data(tensor)));
      continue;
    }
    const std::vector<int8_t> values =
        Values<int8_t>(q, tensor.name + ".qweight");
    const std::vector<float> scale = Values<float>(q, tensor.name + ".scale");
    const std::vector<int32_t> zero =
        Values<int32_t>(q, tensor.name + ".zero_point");
    const std::vector<float> weights = Values<float>(in, tensor.name);
    const std::vector<float> fake = Values<float>(f, tensor.name);
    const size_t row = values.size() / scale.size();
    for (size_t i = 0; i < values.size(); ++i) {
      const size_t m = i / row;
      ASSERT_EQ(fake[i], scale[m] * static_cast<float>(values[i] - zero[m]));
      // Never more than one step from the float weight.
      ASSERT_LE(std::fabs(fake[i] - weights[i]), scale[m] * 1.0001f);
    }
    // Packed: [M, ceil(N*K/2)] bytes that unpack to the same values.
    const safetensors::TensorInfo* nibbles = p.Find(tensor.name + ".qweight");
    ASSERT_NE(nibbles, nullptr);
    EXPECT_EQ(nibbles->dtype, "U8");
    const int64_t channel = static_cast<int64_t>(row);
    EXPECT_EQ(nibbles->shape,
              (std::vector<int64_t>{tensor.shape[0], (channel + 1) / 2}));
    LayerGeometry geometry{tensor.shape[0], channel, 1};
    EXPECT_EQ(UnpackInt4(p.Data(*nibbles), geometry), values);
  }
}

struct BadFile {
  std::string label;
  std::string bytes;
  std::string message;
};

std::string WithLength(const std::string& header,
                       const std::string& data = "") {
  std::string file(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(file.data(), &length, 8);
  return file + header + data;
}

TEST(CliBadInputTest, MalformedFilesAreClearErrors) {
  const std::string sample =
      ReadWholeFile(SamplePath("digits_cnn.safetensors"));
  const std::vector<BadFile> cases = {
      {"truncated", sample.substr(0, sample.size() - 100), "truncated"},
      {"short", "abc", "shorter than the 8-byte length"},
      {"length_past_end", WithLength("{}").substr(0, 9), "exceeds the file"},
      {"bad_json", WithLength("{\"w\": {\"dtype\": \"F32\", "),
       "not valid JSON"},
      {"offsets_out_of_range",
       WithLength(
           R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})",
           std::string(8, '\0')),
       "data section has 8"},
      {"offsets_mismatch",
       WithLength(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})",
                  std::string(8, '\0')),
       "need 16 bytes"},
      {"unknown_dtype",
       WithLength(R"({"w":{"dtype":"Q4","shape":[2,2],"data_offsets":[0,2]}})",
                  std::string(2, '\0')),
       "unknown dtype 'Q4'"},
  };
  for (const BadFile& bad : cases) {
    SCOPED_TRACE(bad.label);
    const std::string path = TempPath(bad.label + ".safetensors");
    std::ofstream(path, std::ios::binary) << bad.bytes;
    const std::string output = TempPath(bad.label + ".out.safetensors");
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"quantize", "--local", "--input", path,
                                   "--output", output},
          std::vector<std::string>{"inspect", path},
          std::vector<std::string>{"dequantize", "--input", path, "--output",
                                   output}}) {
      const RunResult run = RunCli(args);
      EXPECT_EQ(run.exit_code, 2) << run.err;
      EXPECT_THAT(run.err, HasSubstr(path));
      EXPECT_THAT(run.err, HasSubstr(bad.message));
      EXPECT_FALSE(std::filesystem::exists(output));
    }
  }
}

TEST(CliBadInputTest, RejectedTensorsAreNamed) {
  const std::string nan_model = TempPath("nan.safetensors");
  TensorData bad = RandomTensor("layer3.weight", "F32", {4, 6}, 9);
  const float nan = std::nanf("");
  std::memcpy(bad.bytes.data() + 4 * 13, &nan, 4);
  ASSERT_TRUE(
      WriteModel(nan_model, {RandomTensor("ok.weight", "F32", {4, 6}, 8), bad})
          .ok());
  const std::string output = TempPath("out.safetensors");
  RunResult run =
      RunCli({"quantize", "--local", "--input", nan_model, "--output", output});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("layer3.weight"));
  EXPECT_THAT(run.err, HasSubstr("NaN"));
  EXPECT_FALSE(std::filesystem::exists(output));

  const std::string f64_model = TempPath("f64.safetensors");
  ASSERT_TRUE(
      WriteModel(f64_model, {RandomTensor("dense.weight", "F64", {4, 6}, 1)})
          .ok());
  run =
      RunCli({"quantize", "--local", "--input", f64_model, "--output", output});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(
      run.err,
      HasSubstr("tensor 'dense.weight': dtype F64 cannot be quantized"));
  EXPECT_EQ(RunCli({"quantize", "--local", "--input", f64_model, "--output",
                    output, "--exclude", "dense"})
                .exit_code,
            0);

  run = RunCli({"quantize", "--local", "--input", TempPath("missing"),
                "--output", output});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("missing: cannot open"));

  run = RunCli({"quantize", "--local", "--input", f64_model, "--exclude",
                "dense", "--output", "/nonexistent-dir/out.safetensors"});
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_THAT(run.err, HasSubstr("/nonexistent-dir/out.safetensors"));
}

TEST(CliUsageTest, BadCommandLinesExitWithOne) {
  const std::string in = SamplePath("digits_cnn.safetensors");
  const std::string out = TempPath("out.safetensors");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "no command"},
      {{"frobnicate"}, "unknown command"},
      {{"quantize", "--local", "--input", in}, "--output"},
      {{"quantize", "--input", in, "--output", out}, "exactly one of"},
      {{"quantize", "--local", "--server", "x:1", "--input", in, "--output",
        out},
       "exactly one of"},
      {{"quantize", "--local", "--input", in, "--output", out, "--bits", "9"},
       "--bits"},
      {{"quantize", "--local", "--input", in, "--output", out, "--bits", "8",
        "--pack"},
       "--pack needs"},
      {{"quantize", "--local", "--input", in, "--output", out, "--mode",
        "best"},
       "--mode"},
      {{"quantize", "--local", "--input", in, "--output", out, "--frob"},
       "unknown flag --frob"},
      {{"quantize", "--local", "--input", in, "--output", out, "--include",
        "("},
       "not a valid regex"},
      {{"quantize", "--server", "a:1", "--input", in, "--output", out,
        "--timeout", "soon"},
       "--timeout"},
  };
  for (const auto& [args, message] : cases) {
    SCOPED_TRACE(message);
    const RunResult run = RunCli(args);
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_THAT(run.err, HasSubstr(message));
  }
  const RunResult help = RunCli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Exit codes"));
}

}  // namespace
}  // namespace squant::testing
