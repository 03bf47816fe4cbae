"""compare of runs from several machines: each machine's best channel, figure and
efficiency per workload, side by side, in the terminal, compare.md, --json and the
report; runs of one machine get no such view."""

from __future__ import annotations

import json

import pytest
from synthetic_runs import SMALL, write_model_run

from ipcbench.analysis.compare import run_tags
from ipcbench.analysis.machines import machines_view, spans_machines
from ipcbench.analysis.runs import load_runs
from ipcbench.cli import main
from ipcbench.render.html import write_report

# A the model machine; B slower but closer to its (slower still) hardware; C faster.
MACHINES = {"a": {}, "b": {"scale": 1.3, "seed": 1, "baseline_scale": 1.6,
                           "machine_id": "bbbb0011aabbccdd", "cpu_model": "Other CPU"},
            "c": {"scale": 0.8, "seed": 2, "machine_id": "cccc0011aabbccdd",
                  "cpu_model": "Third CPU"}}
WORKLOADS = 2 * 2 * 2 + 4  # pingpong and stream x 2 sizes x 2 procs, counter x 4 procs


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    return [write_model_run(root / name, **SMALL, **changes) for name, changes in MACHINES.items()]


def test_each_machine_answers_each_workload(fleet):
    runs = load_runs(fleet)
    assert spans_machines(runs) and not spans_machines([runs[0], runs[0]])
    view = machines_view(runs, run_tags(3))
    assert len(view.rows) == WORKLOADS
    assert view.machine_ids == ("a1b2c3d4e5f60718", "bbbb0011aabbccdd", "cccc0011aabbccdd")
    for row in view.rows:
        assert all(cell is not None for cell in row.cells)
        assert row.fastest == 2 and row.most_efficient == 1
        # The model's channels rank alike on every machine: one best per workload.
        assert len({cell.channel for cell in row.cells}) == 1
    pingpong = next(r for r in view.rows if r.workload["pattern"] == "pingpong")
    assert pingpong.cells[1].figure == pytest.approx(pingpong.cells[0].figure * 1.3, rel=0.07)


def test_compare_prints_writes_and_dumps_the_view(fleet, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", *map(str, fleet), "--out", str(out), "--no-charts",
                 "--json", str(tmp_path / "c.json")])
    text = capsys.readouterr().out
    assert code == 0
    assert f"Machines side by side ({WORKLOADS} workloads):" in text
    assert f"C fastest in {WORKLOADS}" in text and f"most efficient in {WORKLOADS}" in text
    assert "## Machines side by side" in (out / "compare.md").read_text()
    doc = json.loads((tmp_path / "c.json").read_text())["machines_side_by_side"]
    assert [m["tag"] for m in doc["machines"]] == ["A", "B", "C"]
    assert len(doc["workloads"]) == WORKLOADS
    assert {w["fastest"] for w in doc["workloads"]} == {"C"}
    cell = doc["workloads"][0]["cells"][1]
    assert set(cell) == {"tag", "channel", "figure", "efficiency", "tie"} and cell["tag"] == "B"


def test_one_machine_gets_no_view(fleet, tmp_path, capsys):
    twin = write_model_run(tmp_path / "twin", seed=5, **SMALL)
    assert main(["compare", str(fleet[0]), str(twin), "--out", str(tmp_path / "o"),
                 "--no-charts", "--json", str(tmp_path / "c.json")]) == 0
    assert "Machines side by side" not in capsys.readouterr().out
    assert json.loads((tmp_path / "c.json").read_text())["machines_side_by_side"] is None


def test_report_holds_the_view(fleet, tmp_path):
    text = write_report(fleet[:2], tmp_path).read_text()
    assert "id='machines-side-by-side'" in text and "bbbb0011aabb" in text
