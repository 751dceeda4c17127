#!/usr/bin/env bash
# Validates deploy/k8s offline (the npm registry is the only network use):
#   1. base/prometheusrule.yaml is in sync with deploy/prometheus/alerts.yml;
#   2. every overlay renders with `kubectl kustomize`;
#   3. every rendered object passes the Kubernetes / Prometheus-Operator JSON
#      schemas (kubernetes-models) and a TypeScript type check against the
#      same models (catches misspelled fields); deliberately broken manifests
#      (tests/deploy/broken/) must be rejected by the expected check;
#   4. the rendered PrometheusRules' rules pass `promtool check rules` and
#      the unit tests of deploy/prometheus/alerts_test.yml;
#   5. with --server: the rendered Deployments agree with the real binary
#      (flags, ports, workers, grace period, security context, references:
#      tests/deploy/check-against-server.mjs), and the binary starts with
#      each Deployment's args and stops cleanly on SIGTERM
#      (tests/deploy/run-rendered-args.mjs); broken fixtures are rejected.
#   scripts/validate-deploy.sh [--server PATH/TO/squant-server]
# Exits 77 (ctest's SKIP_RETURN_CODE) only when the npm packages cannot be
# installed; any other problem fails.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
checks="$repo/tests/deploy"
server=""
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    *) echo "usage: $0 [--server PATH/TO/squant-server]" >&2; exit 2 ;;
  esac
done

passed=0
failed=0
run() {  # run NAME COMMAND...: one check, counted.
  local name="$1"; shift
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "validate-deploy: PASS $name ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); echo "validate-deploy: FAIL $name ($((SECONDS - start)) s)"
  fi
}

start=$SECONDS
if ! (cd "$checks" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) >&2; then
  echo "validate-deploy: SKIPPED: cannot install the npm packages of tests/deploy (npm ci failed)"
  exit 77
fi
echo "validate-deploy: npm ci took $((SECONDS - start)) s"

command -v kubectl >/dev/null || {
  echo "validate-deploy: kubectl (with kustomize v5) is needed: see deploy/README.md" >&2
  exit 1
}
command -v promtool >/dev/null || {
  echo "validate-deploy: promtool is needed: scripts/install-deps.sh test (Debian package prometheus)" >&2
  exit 1
}
echo "validate-deploy: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

run "PrometheusRule in sync with deploy/prometheus/alerts.yml" \
  "$repo/deploy/k8s/gen-prometheusrule.sh" --check

render() { kubectl kustomize "$1" >"$2"; }
rendered=()
for overlay in "$repo"/deploy/k8s/overlays/*/; do
  name="$(basename "$overlay")"
  run "render overlay $name" render "$overlay" "$out/$name.yaml"
  [ -s "$out/$name.yaml" ] && rendered+=("$out/$name.yaml")
done
[ ${#rendered[@]} -gt 0 ] || { echo "validate-deploy: nothing rendered" >&2; exit 1; }

run "schemas and types of every rendered object" \
  node "$checks/check-manifests.mjs" "${rendered[@]}"
run "broken manifests are rejected" \
  node "$checks/check-manifests.mjs" --expect-errors "$checks"/broken/*.yaml

# The spec of every rendered PrometheusRule is a Prometheus rules file:
# written beside a copy of deploy/prometheus/alerts_test.yml, so that its
# unit tests run on the rules as deployed.
check_rules() {  # check_rules RENDERED.yaml DIR
  local rendered_file="$1" dir="$2"
  mkdir -p "$dir" && cp "$repo/deploy/prometheus/alerts_test.yml" "$dir/" &&
    (cd "$checks" && node --input-type=module -e "$extract_rules_js" \
      "$rendered_file" "$dir/alerts.yml") &&
    (cd "$dir" && promtool check rules alerts.yml && promtool test rules alerts_test.yml)
}
# shellcheck disable=SC2016  # JavaScript template literals, not shell
extract_rules_js='
  import { readFileSync, writeFileSync } from "node:fs";
  import { parseAllDocuments, stringify } from "yaml";
  const [input, output] = process.argv.slice(1);
  const rules = parseAllDocuments(readFileSync(input, "utf8")).map((d) => d.toJS())
    .filter((o) => o?.kind === "PrometheusRule");
  if (rules.length !== 1) throw new Error(`${input}: ${rules.length} PrometheusRules`);
  writeFileSync(output, stringify(rules[0].spec));'
for file in "${rendered[@]}"; do
  name="$(basename "$file" .yaml)"
  run "promtool check rules, test rules ($name PrometheusRule)" \
    check_rules "$file" "$out/$name-rules"
done

if [ -n "$server" ]; then
  # absl's --helpfull exits 1 after printing: judge it by what it printed.
  server_help() { "$server" --helpfull >"$out/help.txt" 2>&1; grep -q -- '--port ' "$out/help.txt"; }
  run "squant-server --helpfull lists --port" server_help
  run "rendered Deployments agree with squant-server" \
    node "$checks/check-against-server.mjs" "$out/help.txt" "${rendered[@]}"
  run "a Deployment that disagrees with squant-server is rejected" \
    node "$checks/check-against-server.mjs" --expect-errors "$out/help.txt" \
    "$checks"/broken-against-server/*.yaml
  run "squant-server starts with each rendered Deployment's args" \
    node "$checks/run-rendered-args.mjs" "$server" "${rendered[@]}"
  run "args squant-server refuses are caught" \
    node "$checks/run-rendered-args.mjs" --expect-errors "$server" "$checks"/broken-run/*.yaml
else
  echo "validate-deploy: no --server given: the check against the binary did not run"
fi

echo "validate-deploy: $passed passed, $failed failed ($((SECONDS - start)) s)"
[ "$failed" -eq 0 ]
