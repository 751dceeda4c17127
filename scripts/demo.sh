#!/usr/bin/env bash
# The demo (README's first command): builds squant, starts a local
# squant-server on free loopback ports, quantizes the bundled sample model
# (samples/digits_cnn.safetensors, a small CNN trained on scikit-learn's
# digits by samples/train_sample.py) through it with squant-cli, prints the
# per-tensor table, then the held-out accuracy of the float model and of
# SQuant vs round-to-nearest (RTN = --mode squant-e) at 4, 3 and 2 bits,
# and stops the server.
#   scripts/demo.sh          # build dir ./build (override: SQUANT_BUILD_DIR)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${SQUANT_BUILD_DIR:-$repo/build}"
jobs="${SQUANT_JOBS:-$(nproc)}"
samples="$repo/samples"

"$repo/scripts/install-deps.sh" build
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$jobs" \
  --target squant-server squant_cli squant_digits_eval
cli="$build/client/cli/squant-cli"
eval_tool="$build/client/digits_eval/squant-digits-eval"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$build/server/squant-server" --port=0 --metrics_port=0 \
  --bind_address=127.0.0.1 --metrics_bind_address=127.0.0.1 \
  >"$work/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 300); do
  port="$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' \
    "$work/server.log")"
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "demo: squant-server did not start" >&2; exit 1; }
echo "== squant-server listening on 127.0.0.1:$port"

echo "== squant-cli quantize --server 127.0.0.1:$port --bits 4 (SQuant)"
"$cli" quantize --server "127.0.0.1:$port" \
  --input "$samples/digits_cnn.safetensors" \
  --output "$work/digits_cnn.squant4.safetensors" --bits 4
echo
"$cli" inspect "$work/digits_cnn.squant4.safetensors"
echo

models=("$samples/digits_cnn.safetensors")
for bits in 4 3 2; do
  for mode in squant squant-e; do
    out="$work/digits_cnn.$mode$bits.safetensors"
    "$cli" quantize --server "127.0.0.1:$port" --input \
      "$samples/digits_cnn.safetensors" --output "$out" --bits "$bits" \
      --mode "$mode" --json >/dev/null
    models+=("$out")
  done
done
echo "== accuracy on held-out digits (squant-e = round to nearest, RTN)"
"$eval_tool" --data "$samples/digits_test.safetensors" "${models[@]}"

kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
echo "== squant-server stopped; demo done"
