"""A multi-task run through the CLI (``wsup run`` / ``wsup analyze``), ``load_run`` of a multi-task
run, and the per-task report — on real local Spark and Delta tables (the X-ray demo's tasks)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wsup_spark.cli import main
from wsup_spark.errors import DataError
from wsup_spark.io.delta import read_arrow
from wsup_spark.labelmodel.multitask import MultiTaskLabelModel, MultiTaskStats
from wsup_spark.run.store import load_run

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "conf" / "radiology_multitask.yaml")
N = 1500
RUN = "mt-cli"


def _read(path: str) -> Any:
    return read_arrow(path).to_pandas()


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(list(argv))
    return rc, out.getvalue()


def _report_json(path: Path) -> dict[str, Any]:
    page = path.read_text()
    m = re.search(r'<script type="application/json" id="wsup-report-data">(.*?)</script>', page,
                  re.S)  # fmt: skip
    assert m is not None
    return json.loads(m.group(1).replace("<\\/", "</"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cli_run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("mtcli")
    sets = [f"source.n_rows={N}", f"output.path={out}", f"run_id={RUN}", "source.num_partitions=3"]
    rc, text = _cli("run", "--config", CONF, *[a for s in sets for a in ("--set", s)])
    votes = _read(str(out / "votes")).sort_values("id")
    L = np.stack(votes["votes"].to_numpy()).astype(np.int64)
    return {"rc": rc, "text": text, "out": out, "L": L, "sets": sets}


def _gold(n: int) -> tuple[np.ndarray, np.ndarray]:
    from wsup_spark.demo.radiology import finding_types, generate_reports

    ids = np.arange(n)
    return np.asarray(generate_reports(ids)["gold"]), np.asarray(finding_types(ids))


def test_load_run_rebuilds_a_multitask_run(cli_run: dict[str, Any]) -> None:
    res = load_run(str(cli_run["out"]))
    assert res.run_id == RUN and res.is_multitask and res.n_rows == N
    assert isinstance(res.stats, MultiTaskStats) and isinstance(res.model, MultiTaskLabelModel)
    assert res.lf_names[:2] == ["lf_pneumo_regex", "lf_short_report"] and len(res.lf_names) == 15
    # the statistics are those of the votes table, the model predicts the labels table
    graph = res.task_model.graph
    L = cli_run["L"]
    lf_tasks = [graph.tasks[t].name for t in res.task_stats.lf_tasks]
    assert lf_tasks == ["abnormal"] * 8 + ["finding"] * 7
    assert res.task_stats == MultiTaskStats.from_matrix(L, graph, lf_tasks)
    labels = _read(res.labels_path).sort_values("id")
    pred = res.task_model.predict(L)
    assert (labels["label_abnormal"].to_numpy() == pred[:, 0]).all()
    assert np.array_equal(labels["label_finding"].fillna(-1).to_numpy().astype(int), pred[:, 1])
    P = np.stack(labels["probs_abnormal"].to_numpy())
    assert np.allclose(P, res.task_model.predict_proba(L)["abnormal"], atol=1e-6)
    # table versions, metrics and LF versions come back as the run left them
    assert (res.votes_version, res.labels_version, res.train_version) == (0, 0, None)
    assert set(res.metrics["tasks"]) == {"abnormal", "finding"}
    assert [v["lf"] for v in res.lf_versions] == res.lf_names
    assert {v["computed_by"] for v in res.lf_versions} == {RUN}
    assert res.summary()["tasks"] == ["abnormal", "finding"]
    assert load_run(str(cli_run["out"]), RUN).run_id == RUN
    with pytest.raises(ValueError, match="multi-task run"):
        _ = res.single_stats


def test_wsup_run_prints_a_summary_per_task(cli_run: dict[str, Any]) -> None:
    assert cli_run["rc"] == 0
    text = cli_run["text"]
    assert f"run {RUN}: {N:,} rows, 15 LFs, 2 tasks (abnormal, finding)" in text
    assert "task abnormal (k=2): 8 LFs" in text and "gold_acc" in text and "task_s" in text
    assert "task finding (k=5, child of abnormal when ABNORMAL): 7 LFs" in text
    # per-task gold accuracy equals the in-memory model's on the synthetic gold
    res = load_run(str(cli_run["out"]))
    pred = res.task_model.predict(cli_run["L"])
    gold_a, gold_f = _gold(N)
    has = gold_f >= 0
    acc_a = float((pred[:, 0] == gold_a).mean())
    acc_f = float((pred[has, 1] == gold_f[has]).mean())
    assert f"gold rows {N:,}: accuracy label model {acc_a:.4f}" in text
    assert f"gold rows {int(has.sum()):,}: accuracy label model {acc_f:.4f}" in text
    assert f"(predicted N/A {int((pred[has, 1] < 0).sum()):,})" in text
    assert "report: " + str(cli_run["out"] / "report.html") in text


def test_report_has_an_lf_table_per_task_and_cross_task_conflicts(cli_run: dict[str, Any]) -> None:
    out: Path = cli_run["out"]
    page = (out / "report.html").read_text()
    assert 'id="lf-table-abnormal"' in page and 'id="lf-table-finding"' in page
    assert 'id="cross-task-conflicts"' in page and 'id="gold-finding"' in page
    assert (out / "_runs" / RUN / "report.html").read_text() == page
    data = _report_json(out / "report.html")
    assert data["multitask"] is True and data["run_id"] == RUN and data["n_rows"] == N
    tasks = {t["name"]: t for t in data["tasks"]}
    assert [r["lf"] for r in tasks["finding"]["lfs"]][-1] == "lf_single_finding"
    assert tasks["finding"]["active_when"] == ["ABNORMAL"]
    # every number recomputed from the raw votes matrix
    L = cli_run["L"]
    res = load_run(str(out))
    ab, fi = L[:, :8], L[:, 8:]
    for i, row in enumerate(tasks["abnormal"]["lfs"]):
        votes = ab[:, i] >= 0
        others = np.delete(ab, i, axis=1)
        assert row["coverage"] == pytest.approx(votes.mean())
        assert row["overlaps"] == pytest.approx((votes & (others >= 0).any(1)).mean())
        differ = ((others >= 0) & (others != ab[:, [i]])).any(1)
        assert row["conflicts"] == pytest.approx((votes & differ).mean())
        # a finding vote implies ABNORMAL (1): it contradicts a NORMAL (0) vote only
        assert row["conflicts_finding"] == pytest.approx(
            ((ab[:, i] == 0) & (fi >= 0).any(1)).mean()
        )
        assert row["learned_acc"] == pytest.approx(float(res.task_model.accuracies[i]))
    for i, row in enumerate(tasks["finding"]["lfs"]):
        assert row["coverage"] == pytest.approx((fi[:, i] >= 0).mean())
        assert row["conflicts_abnormal"] == pytest.approx(
            ((fi[:, i] >= 0) & (ab == 0).any(1)).mean()
        )
    cross = data["cross_task_conflicts"]
    assert cross["abnormal"]["finding"] == sum(
        int(((ab[:, i] == 0) & (fi >= 0).any(1)).sum()) for i in range(8)
    )
    assert cross["finding"]["abnormal"] == sum(
        int(((fi[:, i] >= 0) & (ab == 0).any(1)).sum()) for i in range(7)
    )
    assert tasks["abnormal"]["coverage"] == pytest.approx((ab >= 0).any(1).mean())
    # per-task gold: counts of the run's distributed reduction, equal to the in-memory ones
    pred = res.task_model.predict(L)
    gold_a, gold_f = _gold(N)
    C = np.asarray(tasks["abnormal"]["gold"]["confusion"])
    assert C.shape == (2, 3) and C.sum() == N
    assert C[1, 1] == int(((gold_a == 1) & (pred[:, 0] == 1)).sum())
    has = gold_f >= 0
    assert tasks["finding"]["gold"]["n_gold"] == int(has.sum())
    # per-LF gold accuracy of each task's LFs (a reduction over the votes' gold columns)
    for i, row in enumerate(tasks["abnormal"]["lfs"]):
        v = ab[:, i] >= 0
        assert row["gold_votes"] == int(v.sum()) and row["gold_na_votes"] == 0
        assert row["gold_acc"] == pytest.approx(float((ab[v, i] == gold_a[v]).mean()))
    for i, row in enumerate(tasks["finding"]["lfs"]):
        v = (fi[:, i] >= 0) & has
        assert row["gold_votes"] == int(v.sum())
        assert row["gold_acc"] == pytest.approx(float((fi[v, i] == gold_f[v]).mean()))
        # votes for a finding on reports whose gold is NORMAL
        assert row["gold_na_votes"] == int(((fi[:, i] >= 0) & ~has).sum())
        assert np.asarray(row["confusion"]).shape == (5, 5)
    assert 'title="multi-task: votes on gold rows where this task has no gold' in page
    bal = np.asarray(tasks["finding"]["class_balance"])
    assert bal.shape == (5,) and bal.sum() == pytest.approx(1.0)


def test_wsup_analyze_reports_per_task(cli_run: dict[str, Any], tmp_path: Path) -> None:
    out: Path = cli_run["out"]
    target = tmp_path / "r.html"
    rc, text = _cli("analyze", "--config", CONF, "--set", f"output.path={out}",
                    "--report", str(target))  # fmt: skip
    assert rc == 0
    assert f"run {RUN}: {N:,} rows, 15 LFs, 2 tasks, label model: multitask_label_model" in text
    assert "task finding (k=5, child of abnormal when ABNORMAL): 7 LFs" in text
    assert "cross-task conflicts (rows, summed over its LFs): with abnormal" in text
    assert "gold_acc" in text and "gold_na_votes" in text and "confusion" not in text
    assert "note:" not in text  # the configured LFs are the run's
    assert f"report: {target}" in text and target.is_file()
    rc, js = _cli("analyze", "--config", CONF, "--set", f"output.path={out}", "--json",
                  "--report", str(target))  # fmt: skip
    data = json.loads(js)
    assert rc == 0 and data["multitask"] and data["report"] == str(target)
    assert data["tasks"] == _report_json(target)["tasks"]
    # configured LFs that differ from the run's: a note, the stored run is still reported
    rc, text = _cli("analyze", "--config", CONF, "--set", f"output.path={out}", "--set",
                    "lfs.exclude=[lf_find_opacity]", "--report", str(target))  # fmt: skip
    assert rc == 0 and "note: The configured LFs" in text and "lf_find_opacity" in text


def test_load_run_refuses_artifacts_of_another_lf_set(cli_run: dict[str, Any]) -> None:
    stats_file = cli_run["out"] / "_runs" / RUN / "lf_stats.npz"
    saved = stats_file.read_bytes()
    stats = MultiTaskStats.from_bytes(saved)
    swapped = MultiTaskStats.empty(stats.graph, ["finding"] + ["abnormal"] * 8 + ["finding"] * 6)
    try:
        stats_file.write_bytes(swapped.to_bytes())
        with pytest.raises(DataError, match="maps the LFs to tasks"):
            load_run(str(cli_run["out"]))
    finally:
        stats_file.write_bytes(saved)
    assert load_run(str(cli_run["out"])).task_stats == stats


def test_wsup_run_multitask_preflight_fails_before_spark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every task's LF modules are loaded, and task gold columns are hidden from LFs and features
    before Spark starts."""
    import wsup_spark.spark.session as session

    monkeypatch.setattr(session, "get_or_create_session", lambda *a, **k: pytest.fail("Spark"))
    base = ["run", "--config", CONF, "--set", f"output.path={tmp_path / 'o'}"]
    assert main([*base, "--set", "output.features=[text, finding]"]) == 2
    err = capsys.readouterr().err
    assert "error: output.features names the task gold column(s) ['finding']" in err
    (tmp_path / "cheat_lfs.py").write_text(
        "from wsup_spark.lf.templates import threshold_lf\n"
        "LFS = [threshold_lf('lf_cheat', column='finding', label=1, gt=0)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    def conf_with(finding_lfs: list[str]) -> str:
        import yaml

        raw = yaml.safe_load(Path(CONF).read_text())
        raw["tasks"][1]["lfs"] = finding_lfs
        path = tmp_path / "mt.yaml"
        path.write_text(yaml.safe_dump(raw))
        return str(path)

    rc = main(["run", "--config", conf_with(["cheat_lfs"])])
    err = capsys.readouterr().err
    assert rc == 2 and "error: LF 'lf_cheat' reads ['finding'], the gold label " in err
    assert "(tasks[finding].gold_col='finding')" in err
    rc = main(["run", "--config", conf_with(["no_such_lf_module"])])
    assert rc == 2 and "cannot import LF module 'no_such_lf_module'" in capsys.readouterr().err
