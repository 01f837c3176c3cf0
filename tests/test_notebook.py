"""The quick-start notebook runs top to bottom (on a tiny collection) so it never rots."""
import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("W2VVX_QUICKSTART_SCALE", "tiny")
    monkeypatch.setenv("W2VVX_ROOTPATH", str(tmp_path))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = "".join(out.get("text", "") + str(out.get("data", {}).get("text/markdown", ""))
                      for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert "on " + os.environ.get("KERAS_BACKEND", "tensorflow") in outputs
    assert "| test zh |" in outputs and "| test de |" in outputs
    assert "synth" in outputs  # search printed item ids
    assert any(out.get("output_type") == "display_data" and "image/png" in out.get("data", {})
               for cell in notebook.cells for out in cell.get("outputs", []))
