#!/usr/bin/env bash
# Runs the squant image with podman as Kubernetes would (non-root user from
# the image, read-only root filesystem, no capabilities, no new privileges)
# and calls it from the host (smoke_image.py), then stops it with SIGTERM and
# checks that it exits cleanly within its shutdown grace.
#   tests/deploy/smoke_image.sh [IMAGE]     (default localhost/squant:dev)
# Loopback only: host network, every port bound to 127.0.0.1 and picked free.
# podman needs runc and explicit nofile/nproc limits on these machines (crun
# fails on their hybrid cgroups).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${1:-localhost/squant:dev}"
name="squant-smoke-$$"
# podman needs explicit limits here: open files up to this shell's hard
# limit; processes (threads) 4096, plenty for the server (runc is refused
# 65536 on these machines even under the hard limit).
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)

fail() { echo "smoke: FAIL $*" >&2; podman logs "$name" 2>&1 | tail -30 >&2 || true; exit 1; }

user="$(podman image inspect --format '{{.Config.User}}' "$image")"
[ "$user" = "65532:65532" ] || fail "image user is '$user', want 65532:65532"
echo "smoke: ok   image runs as $user"

podman run --rm --runtime runc "${limits[@]}" --entrypoint /usr/local/bin/squant-cli "$image" --help >/tmp/$name-cli.txt 2>&1 || true
grep -qi "usage" /tmp/$name-cli.txt || { cat /tmp/$name-cli.txt >&2; fail "squant-cli --help in the image"; }
rm -f /tmp/$name-cli.txt
echo "smoke: ok   squant-cli runs in the image"

read -r grpc_port metrics_port health_port < <(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

podman run -d --name "$name" --runtime runc --network host "${limits[@]}" \
  --read-only --cap-drop ALL --security-opt no-new-privileges \
  "$image" --bind_address=127.0.0.1 --port="$grpc_port" \
  --metrics_bind_address=127.0.0.1 --metrics_port="$metrics_port" \
  --health_port="$health_port" --workers=2 --shutdown_grace=10s >/dev/null
trap 'podman rm -f "$name" >/dev/null 2>&1 || true' EXIT

/usr/bin/python3 "$here/smoke_image.py" --grpc "127.0.0.1:$grpc_port" \
  --health "127.0.0.1:$health_port" --metrics "http://127.0.0.1:$metrics_port/metrics" ||
  fail "calls from the host"

# Kubernetes sends SIGTERM to PID 1: the server must handle it itself (no
# init in the image) and exit 0 well within --shutdown_grace when idle.
start_ms=$(( $(date +%s%N) / 1000000 ))
podman stop --time 30 "$name" >/dev/null
stop_ms=$(( $(date +%s%N) / 1000000 - start_ms ))
code="$(podman inspect --format '{{.State.ExitCode}}' "$name")"
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
[ "$stop_ms" -lt 10000 ] || fail "took $stop_ms ms to stop after SIGTERM"
echo "smoke: ok   SIGTERM -> exit 0 in $stop_ms ms"
podman logs "$name" 2>&1 | tail -3 | sed 's/^/smoke: server log: /'
echo "smoke: all checks of $image passed"
