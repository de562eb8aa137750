#!/usr/bin/env bash
# Set up .venv and serve the dashboard with Voila on http://127.0.0.1:8866 (MLPREC_MODEL picks the model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/voila dashboard.ipynb --no-browser --Voila.ip=127.0.0.1 "$@"
