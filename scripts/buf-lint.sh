#!/usr/bin/env bash
# Lints proto/ with buf's STANDARD rules (proto/buf.yaml), using the buf CLI
# pinned in proto/lint/package.json (npm's @bufbuild/buf ships the binary).
# Exits 77 (ctest's SKIP_RETURN_CODE) only when npm cannot install it; a lint
# finding fails.
set -euo pipefail
proto="$(cd "$(dirname "$0")/../proto" && pwd)"
if ! (cd "$proto/lint" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) >&2; then
  echo "buf-lint: SKIPPED: cannot install @bufbuild/buf (npm ci failed)"
  exit 77
fi
cd "$proto"
lint/node_modules/.bin/buf lint
echo "buf-lint: proto/ passes buf lint (STANDARD)"
