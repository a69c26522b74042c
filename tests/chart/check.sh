#!/usr/bin/env bash
# Offline checks of the Helm chart and the plain manifests:
#   helm lint --strict, with the default values and a values matrix;
#   helm template of each, validated against the Kubernetes v1.33 schemas (strict);
#   deploy/continuo.yaml must equal the chart rendered with charts/continuo/ci/plain-manifests-values.yaml (`--write` regenerates it);
#   the chart's CRDs and classes are byte-identical to crds/ and deploy/classes.yaml (also a cargo test).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
PATH="$(bash tests/chart/tools.sh):$PATH"
chart=charts/continuo
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

render_deploy() {
  helm template continuo "$chart" --namespace continuo-system -f "$chart/ci/plain-manifests-values.yaml"
}

if [ "${1:-}" = "--write" ]; then
  render_deploy > deploy/continuo.yaml
  echo "wrote deploy/continuo.yaml"
  exit 0
fi

cmp -s crds/continuo.yaml "$chart/files/crds.yaml" || { echo "FAIL: $chart/files/crds.yaml differs from crds/continuo.yaml (cp crds/continuo.yaml $chart/files/crds.yaml)"; exit 1; }

# name|helm arguments
matrix=(
  "defaults|"
  "no-leader-election|--set leaderElection.enabled=false --set replicaCount=1"
  "no-metrics|--set metrics.service.enabled=false --set metrics.serviceMonitor.enabled=false"
  "network-policy|--set networkPolicy.enabled=true --set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true --set dashboards.enabled=true"
  "one-namespace|--set watchNamespace=shop --set crds.install=false --set classes.install=false"
  "fencing|--set failover.fenceLostNodes=2m"
  "sites|--set sites.enabled=true --set sites.failoverHold=5m"
)
failed=0
for entry in "${matrix[@]}"; do
  name="${entry%%|*}"; args="${entry#*|}"
  # shellcheck disable=SC2086
  if ! helm lint --strict "$chart" $args >"$out/$name.lint" 2>&1; then
    echo "FAIL: helm lint --strict ($name)"; cat "$out/$name.lint"; failed=1; continue
  fi
  # shellcheck disable=SC2086
  helm template continuo "$chart" --namespace continuo-system $args >"$out/$name.yaml"
  # ServiceMonitor and PrometheusRule have no built-in schema: they are reported, not failed.
  if ! kubernetes-validate --kubernetes-version 1.33.0 --strict --quiet "$out/$name.yaml" >"$out/$name.validate" 2>&1; then
    echo "FAIL: schema validation ($name)"; cat "$out/$name.validate"; failed=1; continue
  fi
  echo "ok: lint, render and schema validation ($name: $(grep -c '^kind:' "$out/$name.yaml") objects)"
done

# Values the schema must refuse.
if helm template continuo "$chart" --set replicaCount=0 >/dev/null 2>&1; then
  echo "FAIL: values.schema.json accepted replicaCount=0"; failed=1
else
  echo "ok: values.schema.json rejects replicaCount=0"
fi
if helm template continuo "$chart" --set failover.nodeLeaseTimeout=15s >/dev/null 2>&1; then
  echo "FAIL: values.schema.json accepted failover.nodeLeaseTimeout=15s"; failed=1
else
  echo "ok: values.schema.json rejects failover.nodeLeaseTimeout=15s"
fi
if helm template continuo "$chart" --set debounce=30s >/dev/null 2>&1; then
  echo "FAIL: values.schema.json accepted debounce=30s"; failed=1
else
  echo "ok: values.schema.json rejects debounce=30s"
fi
if helm template continuo "$chart" --set leaderElection.leaseDuration=15 >/dev/null 2>&1; then
  echo "FAIL: values.schema.json accepted a duration without unit"; failed=1
else
  echo "ok: values.schema.json rejects leaseDuration=15"
fi

render_deploy > "$out/deploy.yaml"
if ! diff -u deploy/continuo.yaml "$out/deploy.yaml" >"$out/deploy.diff"; then
  echo "FAIL: deploy/continuo.yaml is stale; regenerate with: bash tests/chart/check.sh --write"
  head -40 "$out/deploy.diff"; failed=1
else
  echo "ok: deploy/continuo.yaml matches the chart"
fi
exit "$failed"
