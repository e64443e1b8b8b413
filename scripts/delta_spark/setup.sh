#!/usr/bin/env bash
# Build the environment of the delta-spark tests (Spark's own Delta writer, real Delta jars):
#   bash scripts/delta_spark/setup.sh        # -> .venv-delta (or $WSUP_DELTA_VENV)
# 1. .venv-delta: the pinned (pyspark, delta-spark) pair, the project (editable, no extras: no
#    torch) and pytest. Its own venv because delta-spark 4.4 pins pyspark <= 4.2.0.
# 2. The Delta jars, the way a user gets them: delta.configure_spark_with_delta_pip
#    (spark.jars.packages, Spark's Ivy) into .cache/delta-jars/ivy; if Spark's resolver fails,
#    `mvn dependency:copy` of delta-spark + delta-storage into .cache/delta-jars/jars (then passed
#    as spark.jars by scripts/delta_spark/test.sh).
# Idempotent: an up-to-date venv and cached jars are kept. Exits non-zero when the jars cannot be
# had, so CI fails loudly instead of skipping.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV=${WSUP_DELTA_VENV:-$ROOT/.venv-delta}
PY=${PYTHON:-python3}
PYSPARK_VERSION=4.2.0
DELTA_VERSION=4.4.0  # 4.4.1 is on PyPI, but its jars were not on Maven Central when verified
SPARK_MM=${PYSPARK_VERSION%.*}
CACHE="$ROOT/.cache/delta-jars"
ARTIFACT="io.delta:delta-spark_${SPARK_MM}_2.13:$DELTA_VERSION"
STAMP="$VENV/.wsup-delta-stamp"
HELPER="$ROOT/tests/delta_spark/delta_spark_session.py"

want="pyspark==$PYSPARK_VERSION delta-spark==$DELTA_VERSION $(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  echo "delta-spark venv $VENV is up to date (pyspark $PYSPARK_VERSION, delta-spark $DELTA_VERSION)"
else
  echo "building $VENV: pyspark $PYSPARK_VERSION, delta-spark $DELTA_VERSION, wsup-spark (editable), pytest"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  log="$VENV/pip-install.log"
  if ! "$VENV/bin/python" -m pip install -q "pyspark==$PYSPARK_VERSION" \
      "delta-spark==$DELTA_VERSION" -e "$ROOT[connect]" pytest >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -40 >&2
    echo "error: installing into $VENV failed (full log: $log)" >&2
    exit 1
  fi
  echo "$want" >"$STAMP"
  echo "installed: $("$VENV/bin/python" -m pip list 2>/dev/null | grep -E '^(pyspark|delta.spark|deltalake) ' | tr -s ' ' | paste -sd, -)"
fi

mkdir -p "$CACHE"
if compgen -G "$CACHE/jars/*.jar" >/dev/null; then
  echo "Delta jars: using $CACHE/jars (fetched with mvn earlier): $(ls "$CACHE/jars" | paste -sd' ' -)"
  exit 0
fi
if compgen -G "$CACHE/ivy/jars/io.delta_delta-spark_${SPARK_MM}_2.13-$DELTA_VERSION.jar" >/dev/null; then
  echo "Delta jars: $ARTIFACT already in the Ivy cache $CACHE/ivy"
  exit 0
fi

echo "fetching $ARTIFACT with Spark's resolver (configure_spark_with_delta_pip, Ivy cache $CACHE/ivy)"
ivy_log="$CACHE/ivy-prefetch.log"
if WSUP_DELTA_IVY="$CACHE/ivy" "$VENV/bin/python" "$HELPER" >"$ivy_log" 2>&1; then
  grep -E "^(starting|session up|wrote and read)" "$ivy_log" || true
  echo "Delta jars: $(ls "$CACHE/ivy/jars" | wc -l) jars in $CACHE/ivy/jars"
  exit 0
fi
grep -E "unresolved dependency|not found|error" "$ivy_log" | head -5 >&2 || true
echo "Spark's resolver could not get $ARTIFACT (log: $ivy_log); trying mvn dependency:copy" >&2

if ! command -v mvn >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing maven (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven; } \
      >"$CACHE/apt-maven.log" 2>&1 || { echo "error: apt-get install maven failed" >&2; exit 1; }
  else
    echo "error: no mvn to fetch the Delta jars with; install Maven, or pass the jars' folder as WSUP_DELTA_JARS" >&2
    exit 1
  fi
fi
rm -rf "$CACHE/jars.tmp"
for art in "$ARTIFACT" "io.delta:delta-storage:$DELTA_VERSION"; do
  echo "mvn dependency:copy $art"
  if ! mvn -q -B dependency:copy -Dartifact="$art" -DoutputDirectory="$CACHE/jars.tmp" \
      >"$CACHE/mvn.log" 2>&1; then
    tail -20 "$CACHE/mvn.log" >&2
    echo "error: mvn could not fetch $art either (log: $CACHE/mvn.log): Maven Central is unreachable from here" >&2
    exit 1
  fi
done
if ! WSUP_DELTA_JARS="$CACHE/jars.tmp" "$VENV/bin/python" "$HELPER"; then
  echo "error: a Spark session with the jars from mvn does not work" >&2
  exit 1
fi
mv "$CACHE/jars.tmp" "$CACHE/jars"
echo "Delta jars: $(ls "$CACHE/jars" | paste -sd' ' -) in $CACHE/jars"
