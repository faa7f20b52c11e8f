#!/bin/sh
# Set up the benchmark peers (idempotent): the Socket.IO Node peer from the
# npm registry (npm ci, exact lockfile) and the Python peers' packages from
# PyPI into the project's virtualenv.
#   PYTHON=/path/to/python bench/peers/setup.sh   (default: <repo>/.venv/bin/python)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "bench/peers/setup.sh: node and npm are required for the Socket.IO peer" >&2
    echo "  (install Node.js 18 or newer, e.g. apt-get install nodejs npm)" >&2
    exit 1
fi
if [ ! -x "$PYTHON" ]; then
    echo "bench/peers/setup.sh: no python at $PYTHON (set PYTHON=...)" >&2
    exit 1
fi

(cd "$HERE/socketio-node" && npm ci --no-audit --no-fund)
"$PYTHON" -m pip install --quiet -r "$HERE/requirements.txt"
echo "bench peers ready: node $(node --version), $("$PYTHON" -c 'from importlib.metadata import version as v; print("python-socketio", v("python-socketio"), "aiohttp", v("aiohttp"))')"
