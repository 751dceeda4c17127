#!/usr/bin/env bash
# Installs the Debian 12 packages named in the given lists (default: build and
# test), skipping those already installed. Idempotent; needs root.
#   scripts/install-deps.sh                # build + test packages
#   scripts/install-deps.sh build          # only what the build needs
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lists=("$@")
[ ${#lists[@]} -gt 0 ] || lists=(build test)

wanted=()
for list in "${lists[@]}"; do
  while read -r pkg; do
    [ -n "$pkg" ] && [ "${pkg:0:1}" != "#" ] && wanted+=("$pkg")
  done < "$here/packages-$list.txt"
done

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#wanted[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
