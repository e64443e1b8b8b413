"""A newcomer's first hour (issue 16): the README's commands on a fresh machine, and every error a
first job meets is one clear line naming the right value, row, column, file and line."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
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


# --- item 4: every error is one line, ConfigError exit 2, checked before Spark starts -----------


def _job(tmp_path, lfs="my_lfs:BAD", **source):
    """A first job in ``tmp_path``: data.csv (40 rows, ids r00000..), my_lfs.py, job.yaml."""
    import textwrap

    rows = ["id,text,score,label"]
    rows += [f"r{i:05d},{['great stuff', 'bad thing', 'meh'][i % 3]},{i % 10},{i % 2}"
             for i in range(40)]  # fmt: skip
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "my_lfs.py").write_text(
        textwrap.dedent("""
        from wsup_spark import keyword_lf, labeling_function, threshold_lf

        @labeling_function()
        def lf_neg(x):
            return "negative" if x.id == "r00010" else -1

        LFS = [keyword_lf("lf_great", ["great"], 1), keyword_lf("lf_bad", ["bad"], 0),
               threshold_lf("lf_score", column="score", label=1, gt=5)]
        BAD = [*LFS, lf_neg]
        NEG = [*LFS[:2], lf_neg]
        PEEK = [*LFS[:2], labeling_function(name="lf_peek")(lambda x: x.label)]
    """)
    )
    src = {"format": "csv", "path": "data.csv", "gold_col": "label", **source}
    import yaml

    cfg = {"source": src, "lfs": {"modules": [lfs]}, "output": {"path": str(tmp_path / "out")}}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "job.yaml"


def _main_lines(capsys, argv):
    from wsup_spark.cli import main

    rc = main(argv)
    err = capsys.readouterr().err
    return rc, [ln for ln in err.splitlines() if ln.startswith("error:")], err


def test_bad_override_type_is_a_config_error(tmp_path, capsys):
    job = _job(tmp_path)
    rc, errors, _ = _main_lines(
        capsys, ["run", "--config", str(job), "--set", "lfs.cardinality=two"]
    )
    assert rc == 2
    assert errors == ["error: lfs.cardinality must be an integer, got 'two' (str)"]


def test_yaml_syntax_error_is_one_line_with_file_line_column(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("source:\n  format: csv\n  path: [data.csv\nlfs: {}\n")
    rc, errors, err = _main_lines(capsys, ["run", "--config", str(bad)])
    assert rc == 2 and len(errors) == 1, err
    assert errors[0].startswith(f"error: {bad}, line 4, column 4: YAML syntax error: ")
    assert "flow sequence that starts at line 3, column 9: '  path: [data.csv'" in errors[0]
    assert errors[0].endswith("the line: 'lfs: {}'")
    assert "Traceback" not in err and "ScannerError" not in err and "ParserError" not in err


def test_missing_source_path_fails_before_spark_starts(tmp_path, capsys, monkeypatch):
    import wsup_spark.spark.session as session

    def no_spark(*a, **k):
        raise AssertionError("Spark was started before the source path was checked")

    monkeypatch.setattr(session, "get_or_create_session", no_spark)
    monkeypatch.chdir(tmp_path)
    job = _job(tmp_path, lfs="my_lfs:LFS", path="dat.csv")
    monkeypatch.syspath_prepend(str(tmp_path))
    rc, errors, err = _main_lines(capsys, ["run", "--config", str(job)])
    assert rc == 2, err
    assert errors == [
        f"error: source.path 'dat.csv' does not exist (format csv; a relative path is read from "
        f"{tmp_path}); similar names there: ['data.csv']; fix source.path or pass --set "
        "source.path=..."
    ]


def test_train_without_torch_says_how_to_install_it(tmp_path):
    job = _job(tmp_path)
    code = ("import sys; sys.modules['torch'] = None; from wsup_spark.cli import main; "
            f"raise SystemExit(main(['train', '--config', {str(job)!r}]))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_clean_env(), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: wsup train: it needs PyTorch"), lines
    assert 'pip install "wsup-spark[train]"' in lines[0]
    assert "https://download.pytorch.org/whl/cpu" in lines[0] and "whl/cu126" in lines[0]


@pytest.mark.spark
def test_lf_error_on_spark_is_one_line_last_and_noise_goes_to_a_log(tmp_path):
    """The LF error arrives from a Spark task: one `error:` line, last, no Java/Python traces on
    the terminal; the traceback and Spark's log are in the file the line before names."""
    job = _job(tmp_path, lfs="my_lfs:NEG")
    proc = subprocess.run(
        [sys.executable, "-m", "wsup_spark.cli", "run", "--config", str(job)],
        capture_output=True, text=True, cwd=tmp_path,
        env=_clean_env(PYTHONPATH=str(tmp_path)),
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    lines = proc.stderr.strip().splitlines()
    want = "vote 'negative' (str) for row id 'r00010'"
    assert lines[-1].startswith("error: LF 'lf_neg' returned non-integer ") and want in lines[-1]
    assert sum(want in ln for ln in out.splitlines()) == 1, out
    for noise in ("Traceback", "ERROR Executor", "TaskSetManager", "py4j", "at org.apache"):
        assert noise not in out, out
    assert len(lines) < 20, out
    log = Path(re.search(r"\(traceback and Spark's log: (\S+);", lines[-2]).group(1))
    logged = log.read_text()
    assert want in logged and "Traceback" in logged


# --- item 5: a first job of your own ------------------------------------------------------------


def test_lfs_module_singular_is_rejected_with_the_fix():
    from wsup_spark.config import parse_config
    from wsup_spark.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_config({"lfs": {"module": "my_lfs"}})
    assert str(e.value) == (
        "lfs.module is not a config key; did you mean lfs.modules (a list of import paths: "
        "modules: [my_lfs])?"
    )


def test_threshold_lf_on_a_string_column_names_the_column_and_its_type():
    import pyarrow as pa

    from wsup_spark.errors import LFError
    from wsup_spark.lf.kernel import apply_lfs_local
    from wsup_spark.lf.templates import threshold_lf

    table = pa.table({"id": ["r0", "r1"], "score": ["7", "3"]})
    with pytest.raises(LFError) as e:
        apply_lfs_local(table, [threshold_lf("lf_score", "score", 1, gt=5)], 2, id_col="id")
    msg = str(e.value)
    assert msg.startswith("LF 'lf_score' compares column 'score' with numbers, but the column "
                          "holds string values")  # fmt: skip
    assert "inferSchema" in msg and "raised" not in msg  # not wrapped a second time


def test_gold_is_hidden_from_lfs_that_read_every_column():
    import pyarrow as pa

    from wsup_spark.errors import DataError
    from wsup_spark.lf.base import labeling_function, vectorized_lf
    from wsup_spark.lf.kernel import apply_lfs_to_batch, check_columns

    seen = []

    @labeling_function()
    def lf_row(x):
        seen.append(sorted(x.keys()) if hasattr(x, "keys") else sorted(vars(x)))
        return -1

    @vectorized_lf()
    def lf_all(df):
        seen.append(sorted(df.columns))
        return [-1] * len(df)

    batch = pa.record_batch({"id": ["a", "b"], "text": ["x", "y"], "gold": [0, 1]})
    apply_lfs_to_batch(batch, [lf_row, lf_all], 2, "id", hidden=["gold"])
    assert seen and all("gold" not in cols for cols in seen), seen

    @vectorized_lf(columns=["text", "gold"])
    def lf_cheat(df):
        return df["gold"]

    with pytest.raises(DataError, match=r"LF 'lf_cheat' reads column\(s\) \['gold'\], the gold"):
        check_columns([lf_cheat], ["id", "text", "gold"], hidden=["gold"])


def test_lf_declaring_the_gold_column_fails_before_spark(tmp_path, capsys, monkeypatch):
    import wsup_spark.spark.session as session

    monkeypatch.setattr(session, "get_or_create_session", lambda *a, **k: pytest.fail("Spark"))
    job = _job(tmp_path, lfs="my_lfs:CHEAT")
    with open(tmp_path / "my_lfs.py", "a") as f:
        f.write("CHEAT = [*LFS, threshold_lf('lf_cheat', column='label', label=1, gt=0)]\n")
    monkeypatch.chdir(tmp_path)
    rc, errors, err = _main_lines(capsys, ["run", "--config", str(job)])
    assert rc == 2, err
    assert errors[0].startswith("error: LF 'lf_cheat' reads ['label'], the gold label "
                                "(source.gold_col='label')")  # fmt: skip


@pytest.mark.spark
def test_first_job_next_to_its_config_without_pythonpath(tmp_path):
    """LF modules next to the config and in the working directory import without PYTHONPATH
    (driver and local Spark workers); CSV numbers arrive as numbers (threshold_lf works); an LF
    that reads every column never sees the gold column."""
    job_dir, cwd = tmp_path / "job", tmp_path / "elsewhere"
    job_dir.mkdir()
    cwd.mkdir()
    job = _job(job_dir, lfs="my_lfs:LFS")
    (cwd / "cwd_lfs.py").write_text(
        "from wsup_spark import labeling_function\n"
        "@labeling_function()\n"
        "def lf_gold_peek(x):\n"
        "    keys = set(x.keys()) if hasattr(x, 'keys') else set(vars(x))\n"
        "    assert not keys & {'label', 'gold'}, sorted(keys)\n"
        "    return 1 if x.score > 7 else -1\n"
        "LFS = [lf_gold_peek]\n"
    )
    import yaml

    cfg = yaml.safe_load(job.read_text())
    cfg["lfs"]["modules"] = ["my_lfs:LFS", "cwd_lfs"]
    cfg["source"]["path"] = str(job_dir / "data.csv")
    job.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "wsup_spark.cli", "run", "--config", str(job), "--json"],
        capture_output=True, text=True, cwd=cwd, env=_clean_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert summary["lf_names"] == ["lf_great", "lf_bad", "lf_score", "lf_gold_peek"], summary
    coverage = summary["metrics"]["coverage"]
    assert coverage[2] == 16 / 40 and coverage[3] == 8 / 40, coverage  # score > 5, score > 7


# --- item 7: help text and install progress ------------------------------------------------------


def test_help_is_plain_text():
    from wsup_spark.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    texts = {"wsup": parser.format_help()}
    texts.update({f"wsup {n}": p.format_help() for n, p in sub.choices.items()})
    for name, text in texts.items():
        assert "`" not in text and ":mod:" not in text and ":func:" not in text, (name, text)
    assert "wsup run --config conf/demo.yaml" in texts["wsup"]  # examples in the epilog


def test_airflow_setup_shows_progress(tmp_path):
    """scripts/airflow/setup.sh with a stand-in python (its venv's pip prints what pip prints):
    a start line naming the venv and the log, a line per 25 packages, each phase, the result."""
    stub = tmp_path / "python3"
    stub.write_text(
        "#!/usr/bin/env bash\n"
        '[ "$1 $2" = "-m venv" ] || exit 3\n'
        'mkdir -p "$3/bin"\n'
        "cat > \"$3/bin/python\" <<'EOS'\n"
        "#!/usr/bin/env bash\n"
        "for i in $(seq 1 60); do echo \"Collecting pkg$i==1.0\"; echo '  Downloading'; done\n"
        "echo 'Installing collected packages: pkg1, pkg2'\n"
        "echo 'Successfully installed pkg1-1.0'\n"
        "EOS\n"
        "printf '#!/usr/bin/env bash\\necho 3.3.2\\n' > \"$3/bin/airflow\"\n"
        'chmod +x "$3/bin/python" "$3/bin/airflow"\n'
    )
    stub.chmod(0o755)
    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "airflow" / "setup.sh")], capture_output=True, text=True,
        env=_clean_env(PYTHON=str(stub), WSUP_AIRFLOW_VENV=str(venv)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"airflow setup: installing Airflow 3.3.2 + the Spark provider into "
                               f"{venv}")  # fmt: skip
    assert f"pip's log: {venv}/pip-install.log" in lines[0]
    assert lines[1:4] == [
        "airflow setup: 25 packages resolved",
        "airflow setup: 50 packages resolved",
        "airflow setup: 60 packages resolved; installing them",
    ], lines
    assert lines[-1] == f"airflow 3.3.2 installed in {venv}"
    assert "Collecting pkg60" in (venv / "pip-install.log").read_text()


# --- item 6: the report -----------------------------------------------------------------------


def _report_data(names, class_names, n=600, seed=0):
    """A two-class ReportData with gold, the histogram and the gold diagnostics (no Spark)."""
    import numpy as np

    from wsup_spark.analysis.diagnostics import gold_batch, histogram_from_probs
    from wsup_spark.analysis.report import ReportData
    from wsup_spark.analysis.summary import corpus_summary, lf_pair_matrices, lf_summary_rows
    from wsup_spark.labelmodel import LabelModel, LFStats, MajorityVote

    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, n)
    m = len(names)
    right = rng.random((n, m)) < 0.8
    L = np.where(rng.random((n, m)) < 0.35, np.where(right, gold[:, None], 1 - gold[:, None]), -1)
    stats = LFStats.from_matrix(L, 2, list(names))
    lm, mv = LabelModel(2).fit(stats), MajorityVote(2).fit(stats)
    g = gold_batch(L, gold, {"label_model": lm, "majority_vote": mv}, 2, 10)
    ov, cf = lf_pair_matrices(stats)
    return ReportData(
        run_id="r", lf_names=list(names), k=2, class_names=list(class_names), stats=stats,
        corpus=corpus_summary(stats), lf_rows=lf_summary_rows(stats, lm.accuracies.tolist(),
                                                               g.lfs, True),
        overlap=ov, conflict=cf, label_model="label_model", class_balance=lm.class_balance,
        histogram=histogram_from_probs(lm.predict_proba(L), (L >= 0).sum(1), 10), gold=g,
        tables={"votes": {"path": "v", "version": 0}, "labels": {"path": "l", "version": 0}},
    )  # fmt: skip


def test_class_names_config():
    from wsup_spark.config import parse_config
    from wsup_spark.errors import ConfigError

    cfg = parse_config({"lfs": {"modules": ["m"], "class_names": ["HAM", "SPAM"]}})
    assert list(cfg.lfs.class_names) == ["HAM", "SPAM"]
    for bad in (["HAM"], ["HAM", "HAM"]):
        with pytest.raises(ConfigError, match=r"lfs.class_names .* must name each of the lfs"):
            parse_config({"lfs": {"modules": ["m"], "class_names": bad}})


def test_class_names_in_the_report_and_the_cli_tables():
    import numpy as np

    from wsup_spark.analysis import plots
    from wsup_spark.analysis.html import render_html
    from wsup_spark.analysis.report import format_report_summary
    from wsup_spark.analysis.summary import format_summary
    from wsup_spark.labelmodel import LabelModel
    from wsup_spark.run.layout import RunLayout
    from wsup_spark.run.result import PipelineResult

    data = _report_data(["lf_a", "lf_b", "lf_c"], ["HAM", "SPAM"])
    page = render_html(data)
    assert "<th>F1 (SPAM)</th>" in page and "F1 (class 1)" not in page
    assert "<th>gold \\ vote</th><th>HAM</th><th>SPAM</th>" in page  # per-LF confusion labels
    assert "<tr><th>HAM</th><td>" in page
    assert 'data-v="HAM,SPAM">HAM,SPAM</td>' in page  # polarity
    text = format_report_summary(data)
    assert "F1 (SPAM):" in text and "HAM,SPAM" in text
    fig = plots.class_balance(data.class_names, {"gold": np.array([0.4, 0.6])})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["HAM", "SPAM"]
    fig = plots.confidence_histogram(data.histogram, data.class_names)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:2] == ["predicted HAM", "predicted SPAM"]

    result = PipelineResult(
        run_id="r", stats=data.stats, model=LabelModel(2).fit(data.stats),
        layout=RunLayout.at("/tmp/x"), votes_version=0, labels_version=0,
        metrics={"accuracy": {"label_model": 0.9, "majority_vote": 0.8}, "n_gold": 600,
                 "f1": {"label_model": 0.9, "majority_vote": 0.8}},
    )  # fmt: skip
    out = format_summary(result, ["HAM", "SPAM"])
    assert "F1 (SPAM): label model 0.9000" in out
    assert re.search(r"lf_a +HAM,SPAM ", out), out


def test_model_panel_shares_a_row_with_class_balance():
    """The label model vs majority vote panel (a table) sits next to the class balance plot, not
    next to the tall calibration plot (which left it mostly empty space)."""
    from wsup_spark.analysis.html import render_html

    page = render_html(_report_data(["lf_a", "lf_b", "lf_c"], ["0", "1"]))
    rows = page.split('<div class="grid2 row">')
    row = next(r for r in rows if "<h2>Label model vs majority vote</h2>" in r)
    assert "<h2>Class balance</h2>" in row and "Calibration" not in row


def _text_boxes(fig, texts):
    from matplotlib.text import Text

    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [Text.get_window_extent(t, r) for t in texts]


def test_scatter_labels_never_overlap():
    import numpy as np

    from wsup_spark.analysis import plots

    rng = np.random.default_rng(3)
    for m in (8, 14, 24):
        names = [f"lf_{'long_name_' * (i % 3)}{i}" for i in range(m)]
        emp = list(0.9 + 0.08 * rng.random(m))
        learned = list(0.9 + 0.08 * rng.random(m))
        fig = plots.accuracy_scatter(names, learned, emp, rng.random(m) * 0.3)
        ax = fig.axes[0]
        boxes = _text_boxes(fig, ax.texts)
        assert len(boxes) == m
        clash = [(i, j) for i in range(m) for j in range(i + 1, m) if boxes[i].overlaps(boxes[j])]
        assert clash == [], (m, clash)
        frame = ax.get_window_extent(fig.canvas.get_renderer())
        assert all(frame.x0 - 1 <= b.x0 and b.x1 <= frame.x1 + 1 and frame.y0 - 1 <= b.y0
                   and b.y1 <= frame.y1 + 1 for b in boxes)  # fmt: skip
        shown = {t.get_text() for t in ax.texts}
        numbered = ax.get_title(loc="left")
        assert all(n in shown or f": {n}" in numbered for n in names)


def test_heat_map_names_are_whole_and_inside_the_figure():
    import numpy as np

    from wsup_spark.analysis import plots

    names = ["lf_ontology_not_negated_findings_v2", "lf_a", "lf_interval_change_since_prior"]
    fig = plots.pair_heatmaps(names, np.full((3, 3), 0.2), np.full((3, 3), 0.05))
    frame = fig.bbox
    for ax in fig.axes[::2]:  # the two maps (the others are colour bars)
        labels = ax.get_yticklabels() + ax.get_xticklabels()
        assert [t.get_text() for t in ax.get_yticklabels()] == names
        for b in _text_boxes(fig, labels):
            assert frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0, b


def test_confidence_histogram_top_bar_is_not_clipped():
    import numpy as np

    from wsup_spark.analysis import plots
    from wsup_spark.analysis.diagnostics import histogram_from_probs

    rng = np.random.default_rng(0)
    for spread in (0.5, 0.02):  # linear and (skewed counts) log scale
        p1 = np.clip(0.5 + spread * rng.random(2000), 0, 1)
        probs = np.stack([1 - p1, p1], 1)
        hist = histogram_from_probs(probs, np.ones(2000, int), 20)
        fig = plots.confidence_histogram(hist, ["HAM", "SPAM"])
        ax = fig.axes[0]
        tallest = float((hist.counts.sum(1) + hist.uncovered).max())
        assert ax.get_ylim()[1] >= 1.1 * tallest
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        legend = ax.get_legend().get_window_extent(r)
        assert legend.y0 >= ax.get_window_extent(r).y1 - 1  # above the bars, never over them


@pytest.mark.spark
def test_readme_analyze_sample_is_from_a_real_run(spark, shared_data, tmp_path, capsys):
    """README's `wsup analyze` sample equals a real run's output (regenerate it with
    `python scripts/readme_samples.py` when the label model or the LFs change)."""
    from script_modules import load_script

    from wsup_spark.cli import main

    samples = load_script("scripts/readme_samples.py")
    sets = ["--set", f"output.path={tmp_path}",
            "--set", f"source.path={shared_data / 'youtube_spam'}"]  # fmt: skip
    assert main(["run", "--config", "conf/youtube.yaml", *sets]) == 0
    capsys.readouterr()
    assert main(["analyze", "--config", "conf/youtube.yaml", *sets]) == 0
    got = samples.sample_block(capsys.readouterr().out)
    want = samples.readme_block((ROOT / "README.md").read_text())
    assert got == want, f"README's sample is stale: run python scripts/readme_samples.py\n{got}"
