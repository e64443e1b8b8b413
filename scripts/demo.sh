#!/usr/bin/env bash
# Install the project and run the demo job on local Spark (README's first command).
#   bash scripts/demo.sh [--set source.n_rows=10000 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install -q -e .
exec "$PY" -m wsup_spark.cli run --config conf/demo.yaml "$@"
