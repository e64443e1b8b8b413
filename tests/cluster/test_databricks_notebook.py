"""The Databricks notebook (scripts/databricks/wsup_label.py, Databricks source format), its
cells executed in order against a real local SparkSession and real Delta tables, with small
stand-ins for the notebook globals Databricks provides (dbutils, display, displayHTML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import REPO, commit_metadata, read_delta

NOTEBOOK = REPO / "scripts" / "databricks" / "wsup_label.py"
HEADER = "# Databricks notebook source"
SEPARATOR = "\n# COMMAND ----------\n"


class NotebookExit(Exception):
    """dbutils.notebook.exit stops the notebook, like on Databricks."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class _Widgets:
    def __init__(self, values: dict[str, str]) -> None:
        self._given = values
        self.defined: dict[str, dict[str, Any]] = {}

    def _define(self, name: str, default: str, label: str, choices: list[str] | None) -> None:
        self.defined[name] = {"default": default, "label": label, "choices": choices}

    def text(self, name: str, defaultValue: str, label: str | None = None) -> None:
        self._define(name, defaultValue, label or name, None)

    def dropdown(self, name: str, defaultValue: str, choices: list[str],
                 label: str | None = None) -> None:  # fmt: skip
        assert defaultValue in choices
        self._define(name, defaultValue, label or name, list(choices))

    def get(self, name: str) -> str:
        if name not in self.defined:  # Databricks raises for an undefined widget too
            raise ValueError(f"InputWidgetNotDefined: {name}")
        value = self._given.get(name, self.defined[name]["default"])
        choices = self.defined[name]["choices"]
        assert choices is None or value in choices, (name, value, choices)
        return value


class _Notebook:
    def exit(self, value: str) -> None:
        raise NotebookExit(value)


class FakeDbutils:
    """Just the dbutils surface the notebook uses: widgets and notebook.exit."""

    def __init__(self, widget_values: dict[str, str]) -> None:
        self.widgets = _Widgets(widget_values)
        self.notebook = _Notebook()


def notebook_cells(path: Path) -> list[str]:
    text = path.read_text()
    assert text.startswith(HEADER + "\n"), "not a Databricks source-format notebook"
    return [c.strip("\n") for c in text[len(HEADER) + 1 :].split(SEPARATOR)]


def is_magic(cell: str) -> bool:
    lines = [ln for ln in cell.splitlines() if ln.strip()]
    return bool(lines) and all(ln.startswith("# MAGIC") for ln in lines)


def run_notebook(ns: dict[str, Any], path: Path = NOTEBOOK) -> str | None:
    """Execute the notebook's code cells in order in ``ns`` (its globals); the value given to
    ``dbutils.notebook.exit``, or None when it ran to the end."""
    for i, cell in enumerate(notebook_cells(path)):
        if is_magic(cell):
            continue
        try:
            exec(compile(cell, f"{path.name} cell {i}", "exec"), ns)
        except NotebookExit as e:
            return e.value
    return None


def test_notebook_is_databricks_source_format() -> None:
    cells = notebook_cells(NOTEBOOK)
    assert len(cells) >= 6
    assert is_magic(cells[0]) and cells[0].startswith("# MAGIC %md")
    for i, cell in enumerate(cells):
        if not is_magic(cell):
            compile(cell, f"cell {i}", "exec")  # every code cell is valid Python
            assert "# MAGIC" not in cell, f"cell {i} mixes code and magic lines"
    assert "dbutils.widgets.text" in cells[1] and "SparkSession" not in NOTEBOOK.read_text()


@pytest.mark.slow
def test_notebook_cells_run_in_order(spark: Any, tmp_path: Path, monkeypatch: Any) -> None:
    out, run_id, n = tmp_path / "out", "notebook-test", 3000
    widgets = {
        "config": "conf/databricks.yaml",
        "output_path": str(out),
        "mode": "append",
        "run_id": run_id,
        "overrides": f"source.n_rows={n}; source.num_partitions=2\noutput.training_table=false",
        "ship_package": "yes",
    }
    shown: list[Any] = []
    html: list[str] = []

    def display(obj: Any) -> None:
        if hasattr(obj, "toPandas"):  # a Spark DataFrame: Databricks collects and renders it
            obj = obj.limit(1000).toPandas()
        shown.append(obj)

    dbutils = FakeDbutils(widgets)
    ns: dict[str, Any] = {"__name__": "__main__", "spark": spark, "dbutils": dbutils,
                          "display": display, "displayHTML": html.append}  # fmt: skip
    monkeypatch.chdir(NOTEBOOK.parent)  # Databricks runs a Git-folder notebook in its folder
    exit_value = run_notebook(ns)
    assert set(dbutils.widgets.defined) == set(widgets)

    result = ns["result"]
    assert result.run_id == run_id and result.n_rows == n
    for name, path, version in [("votes", result.votes_path, result.votes_version),
                                ("labels", result.labels_path, result.labels_version)]:  # fmt: skip
        tbl, dt = read_delta(path, version)
        assert Path(path) == out / name
        assert sorted(tbl["id"].to_pylist()) == list(range(n))
        assert commit_metadata(dt, version)["run_id"] == run_id
    # the LF table, the labels preview and the commit history were displayed; the report too
    lf_table = shown[0]
    assert list(lf_table["lf"]) == result.lf_names
    assert {"coverage", "learned_acc", "gold_acc", "errors"} <= set(lf_table.columns)
    assert len(shown[1]) == 20 and set(shown[1]["run_id"]) == {run_id}
    assert shown[2][-1]["run_id"] == run_id
    assert html and run_id in html[0] and "LF analysis report" in html[0]
    assert (out / "report.html").is_file()  # written next to the tables
    assert ns["package_zip"].exists()  # ship_package=yes built and shipped the zip
    summary = json.loads(exit_value or "{}")
    assert summary["run_id"] == run_id and summary["n_rows"] == n
