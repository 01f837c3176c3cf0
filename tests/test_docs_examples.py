"""Every Python example of README.md, docs/*.md and examples/quickstart.ipynb runs as written.

The examples start where the quick start (``./do_all.sh w2vv_attention_ctl``) leaves a user: the embedded
collection ``w2vvx_synth`` under the rootpath and the pipeline's run folders under
``<collection>/runs/do_all_w2vv_attention_ctl_small/``. Here that layout is made tiny so the test stays fast:
the collection at scale ``tiny`` under ``$W2VVX_ROOTPATH`` (a documented setting, the one the examples read
through ``load_settings``), and the one run the examples load, ``target_zh``, trained as the pipeline
trains it but at size ``tiny`` for two steps.

Each document's blocks run concatenated in order, like a notebook, in a fresh Python process whose working
folder is an empty temporary folder. A block that cannot run in CI is allowed only behind
``<!-- docs-test: skip (reason) -->`` on the line before it; the list stays short. The notebook's code cells
are executed by tests/test_notebook.py on every backend; here they are checked to use the README's API
(``script_of(NOTEBOOK)`` gives them as one script, as for a document).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", *sorted(f"docs/{path.name}" for path in (REPO / "docs").glob("*.md"))]
NOTEBOOK = "examples/quickstart.ipynb"
SKIP_MARKER = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]*)\)\s*-->")
#: The blocks that may be skipped: each needs hardware CI does not have (and another test covers it).
MAX_SKIPPED = 2
QUICKSTART_RUN = Path("w2vvx_synth", "runs", "do_all_w2vv_attention_ctl_small", "target_zh")
SECONDS_PER_DOCUMENT = 240


def python_blocks(document: str):
    """``(line, code, skip_reason)`` of each fenced ```python block of a Markdown file (1-based line)."""
    lines = (REPO / document).read_text(encoding="utf-8").splitlines()
    blocks, number = [], 0
    while number < len(lines):
        if lines[number].strip() == "```python":
            start = number + 1
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise AssertionError(f"{document}:{number + 1}: the ```python block is never closed")
            previous = next((line for line in reversed(lines[:number]) if line.strip()), "")
            marker = SKIP_MARKER.search(previous)
            blocks.append((start, "\n".join(lines[start:end]) + "\n", marker and marker.group("reason").strip()))
            number = end
        number += 1
    return blocks


def notebook_cells():
    """The notebook's code cells as ``(cell number, code, None)``."""
    notebook = json.loads((REPO / NOTEBOOK).read_text(encoding="utf-8"))
    cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    return [(number, "".join(cell["source"]) + "\n", None) for number, cell in enumerate(cells, 1)]


def examples_of(document: str):
    return notebook_cells() if document == NOTEBOOK else python_blocks(document)


def runnable(document: str) -> bool:
    return any(reason is None for _, _, reason in examples_of(document))


def script_of(document: str) -> str:
    """The document's runnable blocks in order, each headed by where it comes from (for tracebacks)."""
    parts = [f"# --- {document}:{line} ---\n{code}" for line, code, reason in examples_of(document) if reason is None]
    return "\n".join(parts)


# -- the state a user has after the quick start (tiny) --------------------------------------------------
@pytest.fixture(scope="module")
def quickstart_root(tmp_path_factory):
    """The rootpath after a tiny quick start: the embedded collection and the run the examples load."""
    from w2vvx.datasets.synthetic import generate_collection
    from w2vvx.io import Collection
    from w2vvx.training import Trainer

    root = tmp_path_factory.mktemp("VisualSearch")
    generate_collection(root, scale="tiny")
    collection = Collection(root, "w2vvx_synth")
    # as the pipeline trains its [MT] Chinese model (w2vvx.pipeline._train), at size tiny for one epoch
    Trainer("w2vv_attention_ctl", root / QUICKSTART_RUN, collection.captions("train", "google_enc2zh"),
            collection.features("synth_scene_512"), collection.captions("val", "zh"), default_language="zh",
            size="tiny", max_epochs=1, steps_per_epoch=2, verbose=0, tensorboard=False).fit()
    return root


def _cli(*args):
    from click.testing import CliRunner

    from w2vvx.cli import cli

    result = CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _own_data_walkthrough(work: Path) -> None:
    """Steps 0-4 of docs/own_data.md in ``work`` (its shell commands, tiny): photos, a run, an index."""
    pytest.importorskip("skimage.data", reason="scikit-image is not installed (pip install w2vvx[test])")
    import importlib.util

    spec = importlib.util.spec_from_file_location("save_photos", REPO / "examples" / "own_data" / "save_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.save_photos(work / "my_photos", max_side=96)
    features = work / "setup" / "tiny_image"  # the page's own Python block writes features/tiny_image
    root = work / "visualsearch"
    _cli("extract-features", work / "my_photos", "--out", features, "--model", "tiny_image")
    _cli("--rootpath", root, "collection", "build", "photos", "--captions", REPO / "examples" / "own_data" /
         "captions.csv", "--images", work / "my_photos", "--features", features, "--val", 10, "--test", 0)
    _cli("--rootpath", root, "train", "w2vv_1tok", "--collection", "photos", "--size", "tiny", "--epochs", 1,
         "--set", "batch_size=8", "--train-variants", ",zh", "--val-variants", ",zh", "--run-dir", work / "runs" /
         "photos")
    _cli("--rootpath", root, "index", "build", work / "runs" / "photos", "--collection", "photos", "--out",
         work / "photos_index")


#: What a document assumes beyond the quick start (the shell steps it shows before its Python).
SETUPS = {"docs/own_data.md": _own_data_walkthrough}


def _run(document: str, work: Path, root: Path) -> subprocess.CompletedProcess:
    script = work / "docs_example.py"
    script.write_text(script_of(document), encoding="utf-8")
    env = dict(os.environ, W2VVX_ROOTPATH=str(root), MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    return subprocess.run([sys.executable, script.name], cwd=work, env=env, capture_output=True, text=True,
                          timeout=SECONDS_PER_DOCUMENT)


# -- the tests -----------------------------------------------------------------------------------------
def test_every_example_runs_or_says_why_not():
    skipped = [(document, line, reason) for document in DOCUMENTS for line, _, reason in python_blocks(document)
               if reason is not None]
    assert all(reason for _, _, reason in skipped), f"a skip marker without a reason: {skipped}"
    assert len(skipped) <= MAX_SKIPPED, f"too many examples are not run in CI: {skipped}"
    assert sum(len(python_blocks(document)) for document in DOCUMENTS) > len(skipped) + 4
    other_fences = [(document, number + 1, line.strip()) for document in DOCUMENTS
                    for number, line in enumerate((REPO / document).read_text(encoding="utf-8").splitlines())
                    if re.fullmatch(r"```\s*(py|python3|pycon|ipython|ipython3)\s*", line.strip())]
    assert not other_fences, f"fence Python examples as ```python so that this test runs them: {other_fences}"


def test_the_notebook_uses_the_readme_api():
    code = "".join(code for _, code, _ in notebook_cells())
    for used in ("Trainer(", "load_run(", ".encode_text(", ".encode_items(", ".search("):
        assert used in code, f"{NOTEBOOK} should use {used} as the README does"
    for lower_level in ("build_compiled_model", "CaptionBatchDataset", "prepare_text", "brute_force"):
        assert lower_level not in code, f"{NOTEBOOK} uses {lower_level}; use the README's API"


@pytest.mark.slow
@pytest.mark.parametrize("document", [document for document in DOCUMENTS if runnable(document)])
def test_document_examples_run_as_written(document, quickstart_root, tmp_path):
    setup = SETUPS.get(document)
    if setup is not None:
        setup(tmp_path)
    done = _run(document, tmp_path, quickstart_root)
    assert done.returncode == 0, (f"the Python examples of {document} failed (script {tmp_path / 'docs_example.py'}"
                                  f", blocks headed by their line):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
