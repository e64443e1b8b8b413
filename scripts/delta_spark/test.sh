#!/usr/bin/env bash
# Run the delta-spark tests (tests/delta_spark) in their own environment, setting it up first:
#   bash scripts/delta_spark/test.sh                 # extra arguments go to pytest
# A failure to build the environment or to get the Delta jars is a failure (not a skip), and under
# CI=true the tests themselves fail when the session cannot load Delta.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
VENV=${WSUP_DELTA_VENV:-$ROOT/.venv-delta}
bash scripts/delta_spark/setup.sh
if [ -z "${WSUP_DELTA_JARS:-}" ] && compgen -G ".cache/delta-jars/jars/*.jar" >/dev/null; then
  export WSUP_DELTA_JARS="$ROOT/.cache/delta-jars/jars"
fi
export WSUP_DELTA_IVY=${WSUP_DELTA_IVY:-$ROOT/.cache/delta-jars/ivy}
echo "running tests/delta_spark with $("$VENV/bin/python" --version) from $VENV"
exec "$VENV/bin/python" -m pytest -q tests/delta_spark "$@"
