#!/usr/bin/env bash
# The SQuant paper's Table 3 networks and a Llama-2-7B-shaped model through
# a local squant-server (tools/modelbench/README.md). Builds nothing: give
# it a build dir with squant-server and squant-modelbench built. For each
# phase it starts a fresh server on loopback (free ports), waits for its
# "listening" line, runs squant-modelbench under /usr/bin/time -v, then
# reads the server's per-thread CPU times, SIGTERMs it and prints both
# processes' peak RSS (the server's from its own /usr/bin/time -v).
#
# Phase llama2-7b-file (not in the defaults) has squant-modelbench write
# the Llama model as a 13.5 GB F16 safetensors file in a temporary folder
# and quantizes it with squant-cli (--pack) through the server instead,
# timing the CLI's file path; it needs squant-cli built and ~17 GB free.
#
# Usage: scripts/model-bench.sh BUILD_DIR [--phases "table3 llama2-7b"]
#            [--reps N] [--llama-reps N] [--workers N] [-- EXTRA BENCH FLAGS]
#   defaults: phases table3 and llama2-7b, 5 Table-3 repetitions, 3 Llama
#   repetitions, workers = nproc. TMPDIR picks the temporary folder.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
build=$1
shift
phases="table3 llama2-7b"
reps=5
llama_reps=3
workers=$(nproc)
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --phases) phases=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --llama-reps) llama_reps=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "model-bench.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
server_bin=$build/server/squant-server
bench_bin=$build/tools/modelbench/squant-modelbench
cli_bin=$build/client/cli/squant-cli
for bin in "$server_bin" "$bench_bin"; do
  [ -x "$bin" ] || { echo "model-bench.sh: $bin not built" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "model-bench.sh: needs /usr/bin/time (Debian package 'time')" >&2; exit 2; }

work=$(mktemp -d)
time_pid=
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

peak_mib() {  # peak_mib TIME_V_OUTPUT
  awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"
}
cpu_seconds() {  # cpu_seconds TIME_V_OUTPUT: "user U s, system S s"
  awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 }
    END { printf "user %.1f s, system %.1f s", u, s }' "$1"
}

start_server() {
  /usr/bin/time -v -o "$work/server.time" "$server_bin" \
    --bind_address=127.0.0.1 --port=0 --metrics_bind_address=127.0.0.1 \
    --metrics_port=0 --workers="$workers" \
    >"$work/server.log" 2>"$work/server.err" &
  time_pid=$!
  local listening=
  for _ in $(seq 300); do
    listening=$(grep '"event":"listening"' "$work/server.log" || true)
    [ -n "$listening" ] && break
    kill -0 "$time_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$listening" ]; then
    echo "model-bench.sh: the server did not start:" >&2
    cat "$work/server.log" "$work/server.err" >&2
    exit 1
  fi
  server_pid=$(ps -o pid= --ppid "$time_pid" | tr -d ' ')
  port=$(sed -E 's/.*"port":([0-9]+).*/\1/' <<<"$listening")
}

# Server threads by CPU time (user and system, from /proc), the busiest
# first: where the server's time went.
server_threads() {
  local tick
  tick=$(getconf CLK_TCK)
  for stat in /proc/"$server_pid"/task/*/stat; do
    # comm may hold spaces: split after its closing parenthesis.
    awk -v tick="$tick" '{
      comm = substr($0, index($0, "(") + 1);
      comm = substr(comm, 1, index(comm, ")") - 1);
      split(substr($0, index($0, ") ") + 2), f, " ");
      printf "%8.2f s  user %7.2f s  system %7.2f s  %s\n",
        (f[12] + f[13]) / tick, f[12] / tick, f[13] / tick, comm }' "$stat"
  done | sort -rn | head -8
}

stop_server() {
  echo "server threads by CPU time:"
  server_threads
  kill -TERM "$server_pid"
  local status=0
  wait "$time_pid" || status=$?
  server_pid=
  echo "server: peak RSS $(peak_mib "$work/server.time") MiB," \
    "$(cpu_seconds "$work/server.time"), exit status $status"
}

# run_client NAME COMMAND...: runs a client under /usr/bin/time -v and
# prints its peak RSS and CPU time; a failure fails the script.
run_client() {
  local name=$1 status=0
  shift
  /usr/bin/time -v -o "$work/client.time" "$@" || status=$?
  echo "$name: peak RSS $(peak_mib "$work/client.time") MiB," \
    "$(cpu_seconds "$work/client.time"), wall" \
    "$(awk -F': ' '/Elapsed/ { print $2 }' "$work/client.time")," \
    "exit status $status; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ "$status" -eq 0 ] || failed=1
}

failed=0
for phase in $phases; do
  case "$phase" in
    table3) phase_reps=$reps ;;
    llama2-7b) phase_reps=$llama_reps ;;
    llama2-7b-file)
      [ -x "$cli_bin" ] || { echo "model-bench.sh: $cli_bin not built" >&2; exit 2; }
      run_client "squant-modelbench --write_file" "$bench_bin" \
        --model=llama2-7b --write_file="$work/llama.safetensors" ;;
    *) echo "model-bench.sh: unknown phase '$phase'" >&2; exit 2 ;;
  esac
  start_server
  echo "== $phase: squant-server pid $server_pid on 127.0.0.1:$port," \
    "$workers workers; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ "$phase" = llama2-7b-file ]; then
    run_client squant-cli "$cli_bin" quantize --server="127.0.0.1:$port" \
      --input="$work/llama.safetensors" --output="$work/llama.q.safetensors" \
      --bits=4 --pack >"$work/cli.out"
    tail -n 3 "$work/cli.out"
    rm -f "$work/llama.safetensors" "$work/llama.q.safetensors"
  else
    run_client squant-modelbench "$bench_bin" --server="127.0.0.1:$port" \
      --model="$phase" --reps="$phase_reps" "${extra[@]}"
  fi
  stop_server
done
exit $failed
