#!/usr/bin/env bash
# Builds the squant container image without a Docker daemon or registry, then
# runs it and calls it from the host:
#   1. base image: `debootstrap --variant=minbase bookworm` from the Debian
#      mirror apt is configured with, imported as localhost/debian:bookworm-slim
#      and localhost/debian:bookworm (made once, then reused);
#   2. `buildah bud --isolation chroot --pull=never` of the repo's Dockerfile;
#   3. smoke test: `podman run --runtime runc` (crun fails on this machine's
#      hybrid cgroups) with a read-only root filesystem and no capabilities,
#      then grpc.health.v1 Check, one QuantizeLayer and a /metrics scrape from
#      the host (tests/deploy/smoke_image.py), then SIGTERM and a timed exit.
# Prints the time of every step. Idempotent.
#   scripts/build-image.sh [--no-smoke] [--rebuild-base] [--no-cache]
# (--no-cache: rebuild every Dockerfile step, e.g. to time a fresh build.)
# Environment: SQUANT_IMAGE (default localhost/squant:dev), JOBS (default 2).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
image="${SQUANT_IMAGE:-localhost/squant:dev}"
jobs="${JOBS:-2}"
base_slim=localhost/debian:bookworm-slim
base_full=localhost/debian:bookworm
smoke=1
rebuild_base=0
cache=(--layers)
for arg in "$@"; do
  case "$arg" in
    --no-smoke) smoke=0 ;;
    --rebuild-base) rebuild_base=1 ;;
    --no-cache) cache=(--no-cache) ;;
    *) echo "usage: $0 [--no-smoke] [--rebuild-base] [--no-cache]" >&2; exit 2 ;;
  esac
done

step_start=0
step() { step_start=$(date +%s); echo "build-image: $*"; }
step_done() { echo "build-image: ... took $(( $(date +%s) - step_start )) s"; }
total_start=$(date +%s)

step "installing the image tools (scripts/packages-image.txt)"
"$repo/scripts/install-deps.sh" image
step_done

# Prints "deb SITE SUITE COMPONENT" for every bookworm* suite apt is
# configured with, so the image uses the same mirror as this machine.
apt_sources() {
  # shellcheck disable=SC2016  # apt's $(FIELD) placeholders, not shell
  apt-get indextargets --format '$(TARGET_OF) $(SITE) $(RELEASE) $(COMPONENT)' \
      'Created-By: Packages' | awk '$1 == "deb" && $3 ~ /^bookworm/' | sort -u
}

make_base_image() {
  local sources mirror rootfs
  sources="$(apt_sources)"
  mirror="$(awk '$3 == "bookworm" {print $2; exit}' <<<"$sources")"
  [ -n "$mirror" ] || { echo "build-image: apt has no bookworm source" >&2; exit 1; }
  rootfs="$(mktemp -d /var/tmp/squant-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' RETURN
  echo "build-image: debootstrap from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    { tail -20 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  # The same suites as this machine (bookworm, -updates, -security).
  awk '{print $1, $2, $3, $4}' <<<"$sources" >"$rootfs/etc/apt/sources.list"
  # Slim like the official bookworm-slim: no docs, man pages or locales.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/excludes" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$rootfs"/usr/share/{man,info}/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/log/*.log
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
    -exec rm -rf {} +
  tar -C "$rootfs" --numeric-owner -c . |
    podman import --quiet --change 'CMD ["bash"]' - "$base_slim" >/dev/null
  podman tag "$base_slim" "$base_full"
}

step "base image $base_slim"
if [ "$rebuild_base" = 0 ] && podman image exists "$base_slim"; then
  echo "build-image: cached"
  podman image exists "$base_full" || podman tag "$base_slim" "$base_full"
else
  make_base_image
fi
podman image inspect --format '{{.Size}}' "$base_slim" |
  awk '{printf "build-image: base image %.0f MB\n", $1 / 1e6}'
step_done

step "buildah bud $image"
buildah bud --isolation chroot --pull=never "${cache[@]}" \
  --build-arg JOBS="$jobs" -t "$image" -f "$repo/Dockerfile" "$repo"
podman image inspect --format '{{.Size}}' "$image" |
  awk '{printf "build-image: image %.0f MB\n", $1 / 1e6}'
step_done

if [ "$smoke" = 1 ]; then
  step "smoke test of $image"
  "$repo/tests/deploy/smoke_image.sh" "$image"
  step_done
fi
echo "build-image: total $(( $(date +%s) - total_start )) s"
