#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/cli/commands.h"
#include "client/cli/exit_code.h"
#include "client/cli/local_quantizer.h"
#include "client/cli/open_input.h"
#include "client/cli/output_file.h"
#include "client/cli/progress.h"
#include "client/cli/quantized_format.h"
#include "client/cli/remote_quantizer.h"
#include "client/cli/report.h"
#include "client/cli/selection.h"
#include "client/cli/server_channel.h"

namespace squant::cli {
namespace {

// Streams per listed replica: one uploads while the other's layer is
// quantized.
constexpr int kStreamsPerAddress = 2;
constexpr int kStreamsForDnsName = 4;

SelectionRules RulesOf(const QuantizeCommand& command) {
  return SelectionRules{command.include, command.exclude,
                        command.bits_overrides, command.defaults, command.pack};
}

// Quantizes `tasks` into `out`, locally or through the servers.
absl::Status QuantizeTasks(const QuantizeCommand& command,
                           absl::Span<const LayerTask> tasks,
                           QuantizedModelWriter& out, Progress& progress,
                           RunReport& report, absl::Time start) {
  if (command.local) {
    report.target = "local";
    const int threads = command.threads > 0
                            ? command.threads
                            : static_cast<int>(std::max(
                                  1u, std::thread::hardware_concurrency()));
    return QuantizeLocally(tasks, threads, out, progress, report.layers);
  }
  report.target = command.server;
  absl::StatusOr<ServerTarget> target = ParseServerTarget(command.server);
  if (!target.ok()) return target.status();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(*target, command.tls);
  if (!channel.ok()) return channel.status();
  RemoteOptions options;
  options.channel = *channel;
  options.streams = command.streams > 0 ? command.streams
                    : target->is_dns_name
                        ? kStreamsForDnsName
                        : kStreamsPerAddress * target->addresses;
  options.deadline = start + command.timeout;
  report.streams = options.streams;
  absl::StatusOr<RemoteRunStats> stats =
      QuantizeRemotely(options, tasks, out, progress, report.layers);
  if (!stats.ok()) return stats.status();
  report.stream_retries = stats->stream_retries;
  return absl::OkStatus();
}

}  // namespace

absl::Status RunQuantize(const QuantizeCommand& command) {
  const absl::Time start = absl::Now();
  absl::StatusOr<safetensors::MappedFile> input = OpenInput(command.input);
  if (!input.ok()) return input.status();
  const SelectionRules rules = RulesOf(command);
  absl::StatusOr<std::vector<LayerTask>> tasks = SelectLayers(*input, rules);
  if (!tasks.ok()) return tasks.status();

  absl::StatusOr<QuantizedModelWriter> out = QuantizedModelWriter::Create(
      command.output, *input, *tasks, QuantizedMetadata(rules, *tasks));
  if (!out.ok()) return out.status();

  RunReport report;
  report.input = command.input;
  report.output = command.output;
  report.copied_tensors =
      static_cast<int>(input->tensors().size() - tasks->size());
  for (const LayerTask& task : *tasks) {
    report.layers.push_back(ReportFor(task));
    report.input_bytes += task.data.size();
    report.output_bytes += task.values_bytes() + 8 * task.geometry.channels;
  }
  Progress progress(static_cast<int>(tasks->size()), report.input_bytes,
                    !command.json);
  absl::Status status = out->CopyUnselected();
  if (status.ok()) {
    status = QuantizeTasks(command, *tasks, *out, progress, report, start);
  }
  progress.Finish();
  if (status.ok()) status = out->Close();
  if (!status.ok()) {
    ::unlink(command.output.c_str());  // never leave a half-written model
    return status;
  }
  report.wall_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (command.json) {
    absl::PrintF("%s\n", ReportJson(report));
  } else {
    PrintTable(report, stdout);
  }
  return absl::OkStatus();
}

}  // namespace squant::cli
