"""The run manifest and output-path guard on real Spark + Delta: one consistent snapshot per run,
one run at a time per output path (two real processes), crashed claims, unsafe output paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from wsup_spark.config import load_config
from wsup_spark.errors import ConfigError, DataError
from wsup_spark.io.delta import read_arrow
from wsup_spark.pipeline import run_pipeline
from wsup_spark.run.layout import RunLayout
from wsup_spark.run.manifest import ConcurrentRunError, RunManifest
from wsup_spark.run.store import load_run

CONF = "conf/demo.yaml"
ROOT = Path(__file__).resolve().parents[2]


def _cfg(out: Path, *sets: str):
    return load_config(CONF, ["source.n_rows=300", f"output.path={out}", *sets])


def test_committed_run_names_its_table_versions_and_a_failed_run_does_not_count(spark, tmp_path):
    out = tmp_path / "out"
    r1 = run_pipeline(_cfg(out, "run_id=r1"), spark)
    done = RunManifest(RunLayout.at(str(out))).last_commit()
    assert done is not None and done.run_id == "r1"
    assert (done.votes_version, done.labels_version, done.train_version) == (
        r1.votes_version, r1.labels_version, r1.train_version)  # fmt: skip
    # r2 commits votes and labels, then fails writing the training table
    with pytest.raises(DataError, match="output.features"):
        run_pipeline(_cfg(out, "run_id=r2", "output.features=[nope]"), spark)
    assert DeltaTable(str(out / "labels")).version() == r1.labels_version + 1  # r2's labels
    events = [(e.run_id, e.event) for e in RunManifest(RunLayout.at(str(out))).entries()]
    assert events == [("r1", "start"), ("r1", "commit"), ("r2", "start"), ("r2", "abort")]
    back = load_run(str(out))  # the latest *committed* run, not the latest labels commit
    assert back.run_id == "r1" and back.labels_version == r1.labels_version
    assert back.train_version == r1.train_version


def test_a_live_claim_refuses_another_run_until_commit_abort_rerun_or_expiry(spark, tmp_path):
    out = tmp_path / "out"
    manifest = RunManifest(RunLayout.at(str(out)))
    manifest.claim("crashed")  # a driver that died after claiming
    with pytest.raises(ConcurrentRunError, match=r"in use by run 'crashed'.*rerun with run_id="):
        run_pipeline(_cfg(out, "run_id=other"), spark)
    assert not (out / "votes").exists(), "the refused run wrote nothing"
    res = run_pipeline(_cfg(out, "run_id=crashed"), spark)  # the rerun takes its claim over
    assert res.run_id == "crashed"
    manifest.claim("crashed-again")
    assert RunManifest(RunLayout.at(str(out)), stale_after_s=0.0).active() == []  # expiry
    manifest.abort("crashed-again", "test")
    assert run_pipeline(_cfg(out, "run_id=next"), spark).run_id == "next"


def test_two_claims_from_one_snapshot_exactly_one_wins(tmp_path):
    """Two runs that read the manifest at the same version: Delta's put-if-absent commit lets
    one claim win; the other fails before writing anything."""

    class Stale(RunManifest):
        snapshot = None

        def _open(self):  # the version both racers read before either claimed
            return self.snapshot

    layout = RunLayout.at(str(tmp_path / "out"))
    RunManifest(layout).claim("first")
    RunManifest(layout).commit("first", 0, 0, None)
    a, b = Stale(layout), Stale(layout)
    a.snapshot, b.snapshot = DeltaTable(a.uri), DeltaTable(b.uri)
    a.claim("ra")
    with pytest.raises(ConcurrentRunError, match="claimed it at the same moment"):
        b.claim("rb")
    assert [e.run_id for e in RunManifest(layout).active()] == ["ra"]


def test_concurrent_processes_on_one_output_path_never_interleave(tmp_path):
    """Two real `wsup run`-like processes, overwrite mode, run ids ra and rb: rb starts while ra
    holds the output path and fails with a clear error; the tables are all ra's."""
    out = tmp_path / "out"
    lfmod = tmp_path / "slow_lfs.py"
    lfmod.write_text(textwrap.dedent('''
        import time
        import numpy as np
        from wsup_spark import vectorized_lf
        from wsup_spark.demo.radiology_lfs import LFS as _BASE

        @vectorized_lf(columns=["text"])
        def lf_slow(df):
            time.sleep(4.0)
            return np.full(len(df), -1)

        LFS = [*_BASE, lf_slow]
    '''))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}

    def start(rid: str, lfs: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "wsup_spark.cli", "run", "--config", CONF, "--json",
             "--set", "source.n_rows=2000", "--set", f"output.path={out}",
             "--set", f"run_id={rid}", "--set", f"lfs.modules=[{lfs}]",
             "--set", "spark.master=local[1]"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    a = start("ra", "slow_lfs:LFS")
    manifest = RunManifest(RunLayout.at(str(out)))
    deadline = time.monotonic() + 120
    while not any(e.run_id == "ra" for e in manifest.active()):
        assert a.poll() is None, a.communicate()
        assert time.monotonic() < deadline, "ra never claimed the output path"
        time.sleep(0.2)
    b = start("rb", "wsup_spark.demo.radiology_lfs")
    _, b_err = b.communicate(timeout=300)
    a_out, a_err = a.communicate(timeout=300)
    assert a.returncode == 0, a_err[-2000:]
    assert b.returncode == 2, b_err[-2000:]
    assert "in use by run 'ra'" in b_err
    assert json.loads(a_out)["run_id"] == "ra"
    for table in ("votes", "labels", "train"):
        assert set(read_arrow(str(out / table)).column("run_id").to_pylist()) == {"ra"}
    assert [(e.run_id, e.event) for e in manifest.entries()] == [("ra", "start"), ("ra", "commit")]


def test_unsafe_output_paths_are_refused_before_anything_is_written(spark, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "thesis.docx").write_text("precious")
    with pytest.raises(ConfigError, match=r"non-empty folder that is not a wsup output.*thesis"):
        run_pipeline(_cfg(user, "run_id=r"), spark)
    assert sorted(p.name for p in user.iterdir()) == ["thesis.docx"]
    res = run_pipeline(_cfg(user, "run_id=r", "output.allow_non_empty=true"), spark)
    assert (user / "thesis.docx").read_text() == "precious" and res.labels_version == 0

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("<p>my own report</p>")
    with pytest.raises(ConfigError, match="report.html that wsup did not write"):
        run_pipeline(_cfg(mine, "run_id=r", "output.allow_non_empty=true"), spark)

    corpus = tmp_path / "corpus"
    spark.range(10).selectExpr("id", "'x' as text").write.parquet(str(corpus))
    for out in (corpus, corpus / "out"):
        with pytest.raises(ConfigError, match="overlap"):
            run_pipeline(_cfg(out, "source.format=parquet", f"source.path={corpus}",
                              "source.gold_col=null", "output.training_table=false"),
                         spark)  # fmt: skip
    assert not (corpus / "out").exists() and not (corpus / "votes").exists()


def test_files_of_a_crashed_driver_are_removed_by_the_next_run(spark, tmp_path):
    """A driver killed while its tasks wrote leaves data files and an open fence; the next run
    (holding the claim) removes them; files of committed writes are kept."""
    from wsup_spark.io.base import run_tag

    out = tmp_path / "out"
    first = run_pipeline(_cfg(out, "run_id=r1"), spark)
    votes = out / "votes"
    prefix = f"part-{run_tag('dead')}-0123456789ab"
    fence = votes / "_wsup_writes" / prefix
    fence.mkdir(parents=True)
    (fence / "running-p00000-a0-t7").write_bytes(b"")
    stray = votes / f"{prefix}-p00000-a0-t7.snappy.parquet"
    stray.write_bytes(b"PAR1 half a file")
    kept = set(DeltaTable(str(votes)).file_uris())
    res = run_pipeline(_cfg(out, "run_id=r2", "output.mode=append"), spark)
    assert not stray.exists() and not fence.exists()
    assert kept and all(os.path.exists(u.removeprefix("file://")) for u in kept), "r1's files kept"
    assert len(read_arrow(str(votes))) == 600 and res.votes_version == first.votes_version + 1


def test_analyze_with_a_deleted_data_file_is_one_line_exit_2(spark, tmp_path, capsys):
    from wsup_spark.cli import main

    out = tmp_path / "out"
    run_pipeline(_cfg(out, "run_id=r1"), spark)
    victim = next(p for p in (out / "votes").iterdir() if p.suffix == ".parquet")
    victim.unlink()
    rc = main(["analyze", "--config", CONF, "--set", f"output.path={out}"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"references 1 data file(s) that do not exist (e.g. {victim.name})" in err
