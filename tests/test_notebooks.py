"""Execute every notebook in notebooks/ against a synthetic run (outputs stay in memory;
the committed notebooks are never rewritten)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from synthetic_runs import SMALL, write_model_run

from ipcbench.plotting import CHARTS

nbclient = pytest.importorskip("nbclient")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_there_is_a_notebook():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_is_committed_clean(path, tmp_path, monkeypatch):
    on_disk = path.read_bytes()
    committed = nbformat.reads(on_disk.decode("utf-8"), as_version=4)
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "commit with outputs cleared"

    run_a = write_model_run(tmp_path / "run-a", **SMALL)
    run_b = write_model_run(tmp_path / "run-b", scale=1.5, **SMALL)
    # The kernel inherits this process's environment.
    monkeypatch.setenv("IPCBENCH_RUN", str(run_a))
    monkeypatch.setenv("IPCBENCH_RUN_B", str(run_b))
    monkeypatch.setenv("IPCBENCH_NOTEBOOK_OUT", str(tmp_path / "charts"))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    client = nbclient.NotebookClient(committed, kernel_name="python3", timeout=120,
                                     resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    executed = client.execute()

    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for c in executed.cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "the notebook should show charts"
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == sorted(
        f"{stem}.png" for stem in CHARTS)
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "")
                   for c in executed.cells for o in c.get("outputs", []))
    assert "slower" in text  # run B is 1.5x slower everywhere
    assert path.read_bytes() == on_disk  # executed in memory; the committed file is untouched
