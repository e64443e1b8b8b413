"""A newcomer's first hour (issue 16): the README's commands on a fresh machine, and every error a
first job meets is one clear line naming the right value, row, column, file and line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Environment variables that would let a fresh venv see this interpreter's packages (the spark
#: fixture sets PYSPARK_PYTHON to sys.executable: executors would then import from here).
LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_ENV}
    env.update(extra)
    return env


def _quick_start_lines() -> list[str]:
    """The shell lines of README's quick start block, in order (comments dropped)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [ln.strip() for ln in block.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_readme_quick_start_makes_a_venv_then_runs_the_demo():
    lines = _quick_start_lines()
    assert lines[0] == "python3 -m venv .venv && . .venv/bin/activate", lines
    assert lines[1] == "bash scripts/demo.sh", lines


def test_report_dependency_is_core():
    """`wsup run` always writes the report, so its plotting library is a core dependency."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]]
    assert "matplotlib" in core
    assert "-q" not in (ROOT / "scripts" / "demo.sh").read_text().split()  # pip shows progress


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("WSUP_FRESH_VENV_TEST") != "1",
    reason="set WSUP_FRESH_VENV_TEST=1 (scripts/test.sh does) to run README's demo in a fresh "
    "venv: ~2 min and ~1.2 GB, needs PyPI",
)
def test_demo_in_a_fresh_venv_as_readme_says(tmp_path):
    """README's quick start, line for line, in a copy of this checkout with a new venv: only the
    core dependencies (no dev extras, nothing from this interpreter) and the demo job must exit
    0 and write the tables and the report."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to copy the working tree")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    tree = tmp_path / "checkout"
    for rel in filter(None, (f.decode() for f in files)):
        src = ROOT / rel
        if src.is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tree / rel)
    script = " && ".join([*_quick_start_lines()[:2]])
    try:
        proc = subprocess.run(
            ["bash", "-c", f"set -e; {script}"], cwd=tree, env=_clean_env(),
            capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-6000:]
        assert "Traceback" not in out, out[-6000:]
        assert "Downloading" in out or "Collecting" in out  # pip's progress is shown
        for table in ("votes", "labels", "train"):
            assert (tree / "wsup_out" / "demo" / table / "_delta_log").is_dir(), table
        report = (tree / "wsup_out" / "demo" / "report.html").read_text()
        assert report.count("data:image/png;base64,") >= 5
        assert "report: ./wsup_out/demo/report.html" in out
        venv_py = tree / ".venv" / "bin" / "python"
        no_dev = subprocess.run([str(venv_py), "-c", "import pytest"], env=_clean_env())
        assert no_dev.returncode != 0, "the fresh venv must not have the dev extras"
    finally:
        shutil.rmtree(tree / ".venv", ignore_errors=True)  # ~1.2 GB


# --- item 3: an LF error names the value the LF returned and the first row that returned it ------


def _ids_corpus(n=20):
    import pandas as pd

    return pd.DataFrame({"id": [f"r{i:05d}" for i in range(n)], "text": ["x"] * n})


def test_string_vote_names_the_value_and_the_first_bad_row():
    """A row LF voting -1/0 and "negative" at r00010: numpy used to turn the list into strings
    and blame '-1' at r00000."""
    import numpy as np

    from wsup_spark.errors import LFError
    from wsup_spark.lf.base import labeling_function, vectorized_lf
    from wsup_spark.lf.kernel import apply_lfs_local

    @labeling_function()
    def lf_neg(x):
        if x.id in ("r00010", "r00015"):
            return "negative"
        return -1 if x.id < "r00005" else 0

    with pytest.raises(LFError) as e:
        apply_lfs_local(_ids_corpus(), [lf_neg], 2, id_col="id")
    assert "lf_neg" in str(e.value)
    assert "vote 'negative' (str) for row id 'r00010'" in str(e.value)

    @vectorized_lf(columns=["id"])
    def lf_series(df):  # pandas object Series mixing ints and a string
        return df["id"].map(lambda i: "negative" if i >= "r00013" else 1)

    with pytest.raises(LFError, match=r"'lf_series'.*'negative' \(str\) for row id 'r00013'"):
        apply_lfs_local(_ids_corpus(), [lf_series], 2, id_col="id")

    @vectorized_lf(columns=["id"])
    def lf_strings(df):  # a numpy string array: every vote is a string, "-1" spells an integer
        return np.array(["negative" if i >= "r00007" else "-1" for i in df["id"]])

    with pytest.raises(LFError, match=r"'lf_strings'.*'negative' .*<U8.* row id 'r00007'"):
        apply_lfs_local(_ids_corpus(), [lf_strings], 2, id_col="id")


@pytest.mark.spark
def test_string_vote_on_spark_names_the_value_and_row(spark):
    from wsup_spark.lf.base import labeling_function
    from wsup_spark.spark.apply import apply_lfs

    @labeling_function()
    def lf_neg_spark(x):
        return "negative" if x.id == "r00010" else -1

    df = spark.createDataFrame(_ids_corpus()).coalesce(1)
    with pytest.raises(Exception) as e:
        apply_lfs(df, [lf_neg_spark], "id", 2).collect()
    assert "vote 'negative' (str) for row id 'r00010'" in str(e.value)
    assert "'-1'" not in str(e.value)
