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
