#!/usr/bin/env bash
# Install the project and run the demo job on local Spark (README's first command).
#   python3 -m venv .venv && . .venv/bin/activate      # README's quick start: a fresh venv
#   bash scripts/demo.sh [--set source.n_rows=10000 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
  echo "demo.sh: Spark needs Java 17 and no 'java' is on PATH (install e.g. openjdk-17-jre-headless)" >&2
  exit 1
fi
if [ "$("$PY" -c 'import sys; print(sys.prefix == sys.base_prefix)')" = True ]; then
  echo "demo.sh: note: not in a virtual environment; README: python3 -m venv .venv && . .venv/bin/activate"
fi
# pip's own progress (Collecting/Downloading lines): the first install fetches ~500 MB
# (pyspark, pyarrow, scipy, pandas, matplotlib, deltalake), about a minute on a fast link.
echo "demo.sh: installing wsup-spark and its dependencies into $("$PY" -c 'import sys; print(sys.prefix)')"
"$PY" -m pip install -e . || { echo "demo.sh: pip install -e . failed (output above)" >&2; exit 1; }
echo "demo.sh: running: wsup run --config conf/demo.yaml $*"
exec "$PY" -m wsup_spark.cli run --config conf/demo.yaml "$@"
