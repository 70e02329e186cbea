#!/usr/bin/env bash
# Install searchlab for development on a fresh machine: CPU torch (no multi-GB CUDA build),
# searchlab with its dev extras, and Debian's Chromium for the browser tests (when apt is there).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  # a CPU build; an unpinned torch would pull a CUDA build of several GB
  "$PY" -m pip install --quiet "torch==2.13.0"
fi
"$PY" -m pip install --quiet -e ".[dev]"
# Debian's Chromium (browser tests), Fashion-MNIST (image workloads; digits otherwise) and
# PostgreSQL (`searchlab server`'s own database; its tests)
if command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  { command -v pg_ctl >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; } \
    || missing+=(postgresql)
  [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
  if [ ${#missing[@]} -gt 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || echo "setup: could not install ${missing[*]}; the tests that need them will be skipped" >&2
  fi
fi
echo "setup: done ($("$PY" -c 'import searchlab; print("searchlab", searchlab.__version__)'))"
