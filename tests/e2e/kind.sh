#!/usr/bin/env bash
# End-to-end on kind: a three-zone cluster, continuo installed with Helm, the examples applied, one zone's
# worker stopped, capacity checked, then a clean uninstall.
#
# Needs a Docker engine, kind, kubectl and helm. Without a Docker engine it says so and exits 77 ("skipped"),
# which callers must not count as a pass.
set -euo pipefail
cd "$(dirname "$0")/../.."

SKIP=77
if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "e2e: SKIPPED — no Docker engine on this machine (kind needs one); nothing was tested"
  exit "$SKIP"
fi
for tool in kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is required"; exit 1; }
done

CLUSTER=continuo-e2e
IMAGE=continuo:e2e
NS=continuo-system
cleanup() {
  if [ "${KEEP_CLUSTER:-}" != "1" ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "e2e: FAIL: timed out waiting for $what"; "$@" || true; exit 1; fi
    sleep 3
  done
  echo "ok: $what"
}

step "cluster"
kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait 120s
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "install with helm"
helm install continuo charts/continuo --namespace "$NS" --create-namespace --wait --timeout 180s \
  --set image.repository=continuo --set image.tag=e2e --set image.pullPolicy=Never
kubectl -n "$NS" get pods -o wide
wait_for 60 "a leader holds the lease" bash -c "kubectl -n $NS get lease continuo -o jsonpath='{.spec.holderIdentity}' | grep -q ."
wait_for 60 "built-in classes" kubectl get continuityclass active-active warm-standby standard

step "examples"
# The examples name images of a private registry and size pods for production; run a small public test server
# in their place so that every pod can become Ready on a CI runner. CloudNativePG is not installed here: its
# Cluster document is left out (continuo then reports the data layer not installed; the service runs all the same).
without_other_operators() {
  python3 -c 'import re, sys; docs = re.split(r"^---\s*$", sys.stdin.read(), flags=re.M); print("\n---\n".join(d for d in docs if not re.search(r"^apiVersion: postgresql\.cnpg\.io/", d, re.M)))'
}
for f in examples/einvoicing-hub.yaml examples/booking-engine.yaml; do
  ns=$(grep -m1 'namespace:' "$f" | awk '{print $2}')
  kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
  without_other_operators < "$f" | sed -e 's#image: .*#image: registry.k8s.io/e2e-test-images/agnhost:2.53#' \
      -e 's#^\(\s*\)- name: \(passhub\|engine\)$#&\n\1  args: [netexec, --http-port=8080]#' \
    | sed -e 's#path: /readyz#path: /#' -e 's#path: /livez#path: /#' -e 's#path: /healthz#path: /#' -e 's#path: /ready#path: /#' \
          -e 's#requests: {[^}]*}#requests: {cpu: 20m, memory: 32Mi}#' -e 's#limits: {[^}]*}#limits: {memory: 128Mi}#' \
    | kubectl apply -f -
done
wait_for 300 "passhub Ready" kubectl -n invoicing wait rsvc/passhub --for=condition=Ready --timeout=5s
wait_for 300 "booking-engine Ready" kubectl -n booking wait rsvc/booking-engine --for=condition=Ready --timeout=5s
kubectl get rsvc -A -o wide

step "zone spread"
for zone in eu-south-1a eu-south-1b eu-south-1c; do
  n=$(kubectl -n invoicing get pods -l continuo.dev/service=passhub,continuo.dev/zone=$zone \
        -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | while read -r node; do
          kubectl get node "$node" -o jsonpath='{.metadata.labels.topology\.kubernetes\.io/zone}{"\n"}'; done | sort -u)
  [ "$n" = "$zone" ] || { echo "e2e: FAIL: pods of zone $zone run in: $n"; exit 1; }
done
echo "ok: every zone's pods run in that zone"
wait_for 120 "passhub ZoneRedundant" kubectl -n invoicing wait rsvc/passhub --for=condition=ZoneRedundant --timeout=5s

step "lose zone eu-south-1c"
lost=$(kubectl get nodes -l topology.kubernetes.io/zone=eu-south-1c -o jsonpath='{.items[*].metadata.name}')
for node in $lost; do docker stop "$node"; done
ready_outside_lost_zone() {
  local ready
  ready=$(kubectl -n invoicing get pods -l continuo.dev/service=passhub -o json \
    | python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["items"] if p["metadata"]["labels"]["continuo.dev/zone"] != "eu-south-1c" and any(c["type"]=="Ready" and c["status"]=="True" for c in p["status"].get("conditions",[]))))')
  [ "$ready" -ge 6 ]
}
# Active-active: capacity never drops below 6 while the zone is gone.
for _ in $(seq 1 20); do ready_outside_lost_zone || { echo "e2e: FAIL: fewer than 6 Ready outside the lost zone"; exit 1; }; sleep 3; done
echo "ok: 6 replicas stayed Ready through the zone loss"
# Seen from the silent node leases (20 s), well before the node controller's grace period ends.
wait_for 40 "the lost zone is found lost from its leases" bash -c \
  "kubectl -n invoicing get rsvc passhub -o jsonpath='{.status.zones[?(@.name==\"eu-south-1c\")].role}' | grep -q Lost"
wait_for 300 "booking-engine back to Ready" kubectl -n booking wait rsvc/booking-engine --for=condition=Ready --timeout=5s
# Every incident measured: passhub never dropped below N (RTO 0).
wait_for 60 "passhub's zone incident recorded with RTO 0" bash -c \
  "kubectl -n invoicing get rsvc passhub -o jsonpath='{.status.incidents[0].subject}={.status.incidents[0].rtoSeconds}' | grep -qx 'eu-south-1c=0'"
kubectl get rsvc -A -o jsonpath='{range .items[*]}{.metadata.name}: {.status.incidents[0]}{"\n"}{end}'
for node in $lost; do docker start "$node"; done

step "uninstall"
for f in examples/einvoicing-hub.yaml examples/booking-engine.yaml; do
  without_other_operators < "$f" | kubectl delete -f - --wait
done
wait_for 120 "children garbage-collected" bash -c "[ -z \"\$(kubectl get deploy -A -l app.kubernetes.io/managed-by=continuo -o name)\" ]"
helm uninstall continuo --namespace "$NS" --wait
kubectl get crd resilientservices.continuo.dev >/dev/null && echo "ok: CRDs kept after uninstall, as documented"
echo "e2e: PASSED"
