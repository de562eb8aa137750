#!/usr/bin/env bash
# Set up .venv and serve the dashboard with Voila on http://127.0.0.1:8866 (MLPREC_MODEL picks the model).
#   scripts/dashboard.sh --pool N [voila options]   keep N preheated pages ready (they still take links)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pool=()
if [ "${1:-}" = "--pool" ]; then
  [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "error: --pool needs a number of pages, e.g. --pool 4" >&2; exit 2; }
  pool=(--preheat_kernel=True "--pool_size=$2")
  shift 2
fi
# Kernels talk to Voila over Unix sockets: with many kernels starting at once, a TCP port picked for one
# could be taken before it bound it (its heartbeat died; with 16 visitors a page never finished).
exec .venv/bin/voila dashboard.ipynb --no-browser --Voila.ip=127.0.0.1 --KernelManager.transport=ipc "${pool[@]}" "$@"
