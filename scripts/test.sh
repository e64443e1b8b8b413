#!/usr/bin/env bash
# Install what the tests need and run them: the README's test command, also run by .ci/run.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -m "not slow" tests/spark   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# torch: keep an existing install (e.g. a CUDA build); otherwise take the pinned CPU build.
"$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[dev,train]"
"$PY" -m ruff check wsup_spark jobs tests scripts
exec "$PY" -m pytest -q "$@"
