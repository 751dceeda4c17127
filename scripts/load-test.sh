#!/usr/bin/env bash
# Load test on loopback: starts squant-server with explicit memory caps,
# drives it with squant-loadgen (N concurrent clients, a mix of small and
# ResNet-50-shaped models) for a fixed time, then reports requests, layers,
# bytes, errors (must be 0), p50/p99 latency per model and the server's peak
# RSS (VmHWM), which must stay within the caps' bound plus a fixed overhead.
# Finally SIGTERMs the server, which must exit 0 (with an ASan build that
# also means LeakSanitizer found no leak).
#
# Usage: scripts/load-test.sh [--build DIR] [--seconds N] [--clients N]
#                             [--mix SPEC] [--workers N]
#   defaults: build/release, 60 s, 16 clients, small=3,resnet50=1, nproc
# Needs the targets squant-server and squant-loadgen built in DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/release
seconds=60
clients=16
mix="small=3,resnet50=1"
workers=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --mix) mix=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    *) echo "load-test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
server_bin=$build/server/squant-server
loadgen_bin=$build/tools/loadgen/squant-loadgen
for bin in "$server_bin" "$loadgen_bin"; do
  [ -x "$bin" ] || { echo "load-test.sh: $bin not built" >&2; exit 2; }
done

# The caps. ResNet-50's largest layer (9.4 MB of F32) fits max_layer_bytes.
mib=$((1 << 20))
stream_buffer=$((16 * mib))
global_buffer=$((128 * mib))
max_layer=$((16 * mib))
chunk=$((4 * mib))
# The server's memory model (server/README.md, "Memory"), term by term:
# input held up to the global cap; per stream, one layer assembled past its
# cap, stream_buffer of results queued for writing, and a few chunks in
# flight (one being copied in, and gRPC's receive and send buffers: we
# allow 5); the layers on the workers; malloc's retention (server/README.md,
# "Memory": up to 64 MiB of freed memory kept per arena; the workers' and
# the receiving threads' arenas hold the layers); and a fixed overhead (the
# binary, gRPC: about 17 MiB at rest, 64 allowed). Without the retention
# term the bound was 560 MiB, and a run peaked at 561.
overhead=$(((64 + (workers + 1) * 64) * mib))
bound=$((global_buffer + clients * (max_layer + stream_buffer + 5 * chunk) +
         workers * max_layer + overhead))

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --bind_address=127.0.0.1 --port=0 \
  --metrics_bind_address=127.0.0.1 --metrics_port=0 --workers="$workers" \
  --stream_buffer_bytes=$stream_buffer --global_buffer_bytes=$global_buffer \
  --max_layer_bytes=$max_layer --chunk_bytes=$chunk \
  --max_concurrent_streams=$((clients * 2)) --shutdown_grace=20s \
  >"$work/server.log" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 300); do
  grep -q '"event":"listening"' "$work/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
listening=$(grep '"event":"listening"' "$work/server.log" || true)
if [ -z "$listening" ]; then
  echo "load-test.sh: the server did not start:" >&2
  cat "$work/server.log" "$work/server.err" >&2
  exit 1
fi
port=$(sed -E 's/.*"port":([0-9]+).*/\1/' <<<"$listening")
metrics_port=$(sed -E 's/.*"metrics_port":([0-9]+).*/\1/' <<<"$listening")

metric() {  # metric NAME: its value on /metrics
  exec 3<>"/dev/tcp/127.0.0.1/$metrics_port"
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  awk -v name="$1" '$1 == name { print $2 }' <&3
  exec 3<&-
}

echo "== squant-server pid $server_pid on 127.0.0.1:$port, $workers workers;" \
  "caps: stream $((stream_buffer / mib)) MiB, global $((global_buffer / mib)) MiB," \
  "layer $((max_layer / mib)) MiB"
echo "== squant-loadgen: $clients clients, ${seconds}s, mix $mix"
loadgen_status=0
"$loadgen_bin" --server="127.0.0.1:$port" --streams="$clients" \
  --duration="${seconds}s" --mix="$mix" --chunk_bytes=$chunk \
  --json_out="$work/report.json" || loadgen_status=$?

peak_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
sleep 0.5  # streams of the last models end
buffered=$(metric squant_buffered_bytes)
in_flight=$(metric squant_streams_in_flight)

kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=

failures=()
/usr/bin/python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"requests: {r['requests_ok']} ok, {r['requests_failed']} failed; "
      f"layers: {r['layers']}; bytes: {r['bytes_sent'] / 1e6:.1f} MB sent, "
      f"{r['bytes_received'] / 1e6:.1f} MB received in {r['seconds']:.1f} s")
print("errors:", r["errors"] or "none")
for name, m in r["models"].items():
    print(f"latency {name}: {m['ok']} ok, p50 {m['p50_seconds']:.3f} s, "
          f"p99 {m['p99_seconds']:.3f} s")
PY
echo "server peak RSS (VmHWM): $((peak_kb / 1024)) MiB; bound from the caps:" \
  "$((bound / mib)) MiB (including $((overhead / mib)) MiB for the binary, gRPC and malloc's retention)"
echo "after the load: squant_buffered_bytes=$buffered squant_streams_in_flight=$in_flight"
echo "server exit status after SIGTERM: $server_status"

[ "$loadgen_status" -eq 0 ] || failures+=("squant-loadgen reported failed requests (exit $loadgen_status)")
[ "$buffered" = 0 ] || failures+=("squant_buffered_bytes is $buffered after the load")
[ "$in_flight" = 0 ] || failures+=("$in_flight streams still open after the load")
[ "$server_status" -eq 0 ] || failures+=("the server exited $server_status after SIGTERM")
if grep -qa __asan_init "$server_bin"; then
  echo "AddressSanitizer build: peak RSS not checked (shadow memory);" \
    "LeakSanitizer ran at exit: $( [ "$server_status" -eq 0 ] && echo 'no leaks' || echo 'see below')"
  cat "$work/server.err" >&2
elif [ $((peak_kb * 1024)) -gt "$bound" ]; then
  failures+=("peak RSS $((peak_kb / 1024)) MiB over the bound $((bound / mib)) MiB")
fi
if [ ${#failures[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failures[@]}" >&2
  tail -n 20 "$work/server.err" >&2
  exit 1
fi
echo "PASSED"
