"""docs/notebooks/attention_memory.ipynb executes fresh, cell by cell, without an error, and writes
its four figures where MEMGRAD_NOTEBOOK_FIGURES says (a temporary folder, never the repository).
The notebook itself checks its numbers (the Python step's peak against the lra program's, the
estimate within 10%); any failing cell fails this test. Needs nbclient, nbformat and ipykernel
(scripts/test.sh installs them) and the lra program (skipped with the reason when one is missing)."""
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel", reason="ipykernel is needed to run the notebook's python3 kernel")
pytest.importorskip("matplotlib")

import memgrad  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebooks" / "attention_memory.ipynb"
FIGURES = ("timelines.png", "memory_time_vs_n.png", "predicted_vs_measured.png", "topk_accuracy_vs_k.png")


def lra_program():
    """MEMGRAD_LRA, else the lra beside the memgrad package's build (<build>/python/memgrad ->
    <build>/examples/lra/lra), else <repository>/build/examples/lra/lra."""
    if os.environ.get("MEMGRAD_LRA"):
        return Path(os.environ["MEMGRAD_LRA"])
    beside = Path(memgrad.__file__).resolve().parents[2] / "examples" / "lra" / "lra"
    return beside if beside.is_file() else ROOT / "build" / "examples" / "lra" / "lra"


def test_notebook_is_stored_without_outputs():
    # The notebook in git is the source; the test run makes the outputs. Stored outputs would go
    # stale and bloat diffs.
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for i, cell in enumerate(code):
        assert cell.outputs == [] and cell.execution_count is None, f"code cell {i} has stored outputs"
    assert nb.metadata.kernelspec.name == "python3"


def test_notebook_executes(tmp_path, monkeypatch):
    lra = lra_program()
    if not lra.is_file():
        pytest.skip(f"the lra program is not built ({lra}): make -C build lra, or set MEMGRAD_LRA")
    figures = tmp_path / "figures"
    # The kernel inherits this environment: the repository, the program, the figure folder, the
    # package on PYTHONPATH, and private Jupyter/IPython folders (no user kernelspecs or startup files).
    monkeypatch.setenv("MEMGRAD_ROOT", str(ROOT))
    monkeypatch.setenv("MEMGRAD_LRA", str(lra))
    monkeypatch.setenv("MEMGRAD_NOTEBOOK_FIGURES", str(figures))
    package_dir = str(Path(memgrad.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [package_dir, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # kernel "python3" is ipykernel's own spec; jupyter_client starts it with this interpreter
    # (sys.executable), so the kernel sees the same packages as this test.
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # CellExecutionError (with the cell and its traceback) on any failing cell

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    for name in FIGURES:
        png = figures / name
        assert png.is_file(), f"{name} was not written"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10000, name
    assert not list(figures.glob(".*")), "a temporary figure file was left behind"
    stdout = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "notebook ran in" in stdout, "the last cell did not run"
