"""The notebooks execute top to bottom (nbclient), each from a temporary copy: the committed, executed notebooks are
never rewritten by the test. Slow: about 2.5 minutes for the three on 2 CPU cores (03 runs `signmusketeers demo
--quick` itself, into a temporary folder).

    PYTHONPATH=. python -m pytest -m slow tests/test_notebooks.py -q
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CELL_TIMEOUT_S = 600  # notebook 03's demo cell runs the quick demo (about half a minute; generous for busy machines)


def execute(name: str, tmp_path: Path) -> str:
    """Run ``notebooks/NAME`` from a copy in ``tmp_path`` (kernel working directory: notebooks/, as when a user
    opens it there); returns the text of all its stream outputs. Any cell error fails the test with its traceback."""
    copy = tmp_path / name
    shutil.copy(NOTEBOOKS / name, copy)
    notebook = nbformat.read(copy, as_version=4)
    for cell in notebook.cells:  # start clean: the saved outputs must not leak into the checks below
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    nbformat.write(notebook, copy)
    streams = [
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream" and output.get("name") == "stdout"
    ]
    images = sum(
        1
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if any(kind.startswith("image/") for kind in output.get("data", {}))
    )
    assert images > 0, f"{name}: no figure was drawn"
    return "\n".join(streams)


@pytest.mark.slow
@pytest.mark.needs_shared_data
def test_frame_parsing_notebook(shared_clips, tmp_path) -> None:
    text = execute("01_frame_parsing.ipynb", tmp_path)
    assert "signer_blue_screen: 133 frames of 640x480" in text
    counts = re.search(r"^face\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", text, re.M)
    assert counts and sum(map(int, counts.groups()[:4])) == 133  # every frame's face box has one provenance


@pytest.mark.slow
def test_pretraining_notebook(tmp_path) -> None:
    text = execute("02_pretraining.ipynb", tmp_path)
    assert "60 steps in" in text
    first, last = map(float, re.search(r"loss ([\d.]+) → ([\d.]+)", text).groups())
    assert last < first


@pytest.mark.slow
def test_translation_notebook(tmp_path, monkeypatch) -> None:
    # A fresh folder: the notebook runs `signmusketeers demo --quick` into it rather than reusing demo_out/.
    monkeypatch.setenv("SIGNMUSKETEERS_DEMO_OUT", str(tmp_path / "demo"))
    text = execute("03_translation.ipynb", tmp_path)
    assert (tmp_path / "demo" / "summary.json").exists()
    assert re.search(r"^all streams\s+[\d.]+", text, re.M)
    for stream in ("face", "left", "right", "pose"):
        assert re.search(rf"^{stream} zeroed\s+[\d.]+", text, re.M), stream
