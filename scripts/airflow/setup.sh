#!/usr/bin/env bash
# Create the Airflow virtual environment the DAG test uses (and a local Airflow to try the DAG):
#   bash scripts/airflow/setup.sh        # -> scripts/airflow/.venv (or $WSUP_AIRFLOW_VENV)
# Airflow + the Apache Spark provider, every version pinned in constraints.txt. Airflow gets its
# own venv: its dependencies (pandas 3, SQLAlchemy 2.1, ...) must not touch the project's.
# A venv that already matches constraints.txt is kept (the script is then a no-op).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV=${WSUP_AIRFLOW_VENV:-$HERE/.venv}
PY=${PYTHON:-python3}
AIRFLOW_VERSION=3.3.2
SPARK_PROVIDER_VERSION=6.3.4
STAMP="$VENV/.wsup-constraints.sha256"
want=$(sha256sum "$HERE/constraints.txt" | cut -d' ' -f1)
if [ -x "$VENV/bin/airflow" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  echo "airflow venv $VENV is up to date"
  exit 0
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
log="$VENV/pip-install.log"
echo "airflow setup: installing Airflow $AIRFLOW_VERSION + the Spark provider into $VENV" \
  "(about 200 packages, 1-2 min the first time; pip's log: $log)"
# pip's full output goes to the log; the terminal gets a line per 25 packages and each phase.
if ! "$VENV/bin/python" -m pip install --progress-bar off -c "$HERE/constraints.txt" \
    "apache-airflow==$AIRFLOW_VERSION" \
    "apache-airflow-providers-apache-spark==$SPARK_PROVIDER_VERSION" 2>&1 | tee "$log" | awk '
      /^Collecting / { n++; if (n % 25 == 0) { printf "airflow setup: %d packages resolved\n", n; fflush() } }
      /^Installing collected packages/ { printf "airflow setup: %d packages resolved; installing them\n", n; fflush() }
    '; then
  grep -v "^WARNING: Location" "$log" | tail -40 >&2
  echo "error: installing Airflow into $VENV failed (full log: $log)" >&2
  exit 1
fi
echo "airflow setup: checking that airflow starts"
"$VENV/bin/airflow" version >/dev/null
echo "$want" >"$STAMP"
echo "airflow $("$VENV/bin/airflow" version 2>/dev/null | tail -1) installed in $VENV"
