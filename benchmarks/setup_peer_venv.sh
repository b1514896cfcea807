#!/usr/bin/env bash
# Create (or check) the RecTools peer venv that benchmarks/compare_peers.py runs the peer models in.
#
# RecTools 0.19 pins numpy<2 and pandas<3, so it cannot share recpilot's venv. This script builds a
# separate venv from benchmarks/peer/requirements.txt (exact pins, wheels only). It is idempotent: when
# the venv already holds RecTools 0.19.0 and torch 2.13.0 it only says so.
#
# Environment:
#   PEER_VENV=/path      use (or create) the venv there instead of benchmarks/.peer-venv; an existing,
#                        complete venv is reused untouched. compare_peers.py reads PEER_VENV too.
#   PYTHON=python3.11    interpreter for a new venv (RecTools 0.19 supports 3.9-3.13; the pins are
#                        for 3.11).
#   TORCH_WHEEL_DIR=DIR  folder holding a local torch-2.13.0+cpu wheel (default: /opt/wheels when it
#                        has one). When a local wheel is found pip takes it from there and no extra
#                        index is used at all.
#   TORCH_INDEX_URL=URL  extra index for the torch wheel when there is no local one (default: the
#                        PyTorch CPU index, so that torch==2.13.0 comes without CUDA libraries); it is
#                        probed once (5 s) and skipped with a message when unreachable, instead of
#                        letting pip retry it; set it empty to rely on pip's own configuration only.
#
# Usage:
#   benchmarks/setup_peer_venv.sh
#   PEER_VENV=/work/peer-venv benchmarks/setup_peer_venv.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEER_VENV:-$here/.peer-venv}"
python="${PYTHON:-python3.11}"
requirements="$here/peer/requirements.txt"
torch_index="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
wheel_dir="${TORCH_WHEEL_DIR:-/opt/wheels}"

check_venv() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md
import sys

wanted = {"rectools": "0.19.0", "torch": "2.13.0"}
found = {name: md.version(name) for name in wanted}
ok = all(found[name].split("+")[0] == version for name, version in wanted.items())
import rectools.models  # noqa: F401  (fails if a dependency is missing or broken)
print(", ".join(f"{name} {version}" for name, version in found.items()))
sys.exit(0 if ok else 1)
PY
}

if [[ -x "$venv/bin/python" ]] && versions="$(check_venv)"; then
    echo "peer venv ready at $venv ($versions)"
    echo "use: --peer-python $venv/bin/python"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    if ! command -v "$python" >/dev/null 2>&1; then
        python=python3
    fi
    echo "creating peer venv at $venv with $("$python" --version)"
    "$python" -m venv "$venv"
fi

reachable() {
    "$venv/bin/python" - "$1" <<'PY' 2>/dev/null
import sys
import urllib.request

urllib.request.urlopen(sys.argv[1], timeout=5).close()
PY
}

extra=(--retries 1 --timeout 15)
if compgen -G "$wheel_dir/torch-2.13.0+cpu-*.whl" >/dev/null; then
    echo "torch from the local wheel in $wheel_dir"
    extra+=(--find-links "$wheel_dir")
elif [[ -n "$torch_index" ]]; then
    if reachable "$torch_index/"; then
        extra+=(--extra-index-url "$torch_index")
    else
        echo "torch index $torch_index is unreachable: skipping it (set TORCH_WHEEL_DIR to a local wheel)" >&2
    fi
fi
"$venv/bin/python" -m pip install --upgrade pip >/dev/null
"$venv/bin/python" -m pip install --only-binary=:all: "${extra[@]}" -r "$requirements"

if versions="$(check_venv)"; then
    echo "peer venv ready at $venv ($versions)"
    echo "use: --peer-python $venv/bin/python"
else
    echo "peer venv at $venv is incomplete: RecTools 0.19.0 or torch 2.13.0 did not install" >&2
    exit 1
fi
