"""What every dataset recipe shares: input checks, resumable steps, the printed plan, training and scoring.

A recipe has three parts:

* a list of :class:`InputFile` - every file of the authors' distribution that it reads, with where
  that file is published and what is done with it. :func:`check_inputs` checks that each exists and
  is well-formed, and raises an error naming the file and its source otherwise;
* a list of :class:`Step` - each writes its outputs under ``rootpath`` atomically. :class:`StepRunner`
  records a finished step in ``<rootpath>/.w2vvx-recipes/<recipe>/<step>.done`` (with the outputs'
  paths) and skips it next time; a step without that record (a crash half way) is done again;
* :func:`render_plan` - the text ``--dry-run`` prints: inputs, steps (done / to do), the protocol.

:func:`train` wraps :class:`w2vvx.training.trainer.Trainer` so that every recipe trains the same way;
the recipes encode with the trained model's ``encode_text`` / ``encode_items`` and evaluate through the
protocols of :mod:`w2vvx.evaluation.protocols` (COCO-CN CL/CM/CLM, NRCCR query translation), the
ones ``w2vvx do-all`` uses. The NRCCR recipes train with
:class:`w2vvx.training.nrccr.NRCCRTrainer` (see :mod:`recipes.crosslingual`).
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import logging
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from w2vvx.errors import DataFormatError, MissingFileError, W2VVXError
from w2vvx.io.atomic import atomic_path
from w2vvx.models.sizes import SIZES, SMOKE_SPACE_DIM

logger = logging.getLogger(__name__)

STATE_DIR = ".w2vvx-recipes"

#: Overrides that make any named config tiny, for ``--small-scale`` CPU smoke runs (the ``smoke`` model size).
SMALL_SCALE_OVERRIDES = SIZES["smoke"]
#: Common-space size used by ``--small-scale`` for configs with a common space (w2vvpp).
SMALL_SCALE_SPACE_DIM = SMOKE_SPACE_DIM


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class InputFile:
    """One file (or folder) of a dataset distribution that a recipe reads.

    Attributes:
        name: a short label for the plan (``"train.de.gz"``).
        path: where the recipe expects it.
        source: where it is published (URL or distribution name), quoted in every error about it.
        purpose: what the recipe does with it.
        validate: ``path -> summary`` (e.g. ``"29000 lines"``); raises ``DataFormatError`` when malformed.
        optional: a missing optional input is reported in the plan, not an error.

    Example:
        >>> spec = InputFile("x.txt", Path("/nonexistent/x.txt"), "https://example.org", "read ids")
        >>> try:
        ...     check_inputs([spec])
        ... except MissingFileError as error:
        ...     "https://example.org" in str(error)
        True
    """

    name: str
    path: Path
    source: str
    purpose: str
    validate: Optional[Callable[[Path], str]] = None
    optional: bool = False


def _with_source(error: W2VVXError, spec: InputFile) -> W2VVXError:
    suffix = f" [{spec.name} comes from {spec.source}]"
    if isinstance(error, DataFormatError):
        return DataFormatError(error.message + suffix, path=error.path or spec.path, line=error.line)
    if isinstance(error, MissingFileError):
        return MissingFileError(error.message + suffix, path=error.path or spec.path)
    return DataFormatError(str(error) + suffix, path=spec.path)


def check_input(spec: InputFile) -> str:
    """Check one input; return its summary (``"missing (optional)"`` for an absent optional input)."""
    if not spec.path.exists():
        if spec.optional:
            return "missing (optional)"
        raise MissingFileError(f"{spec.name} not found; it is needed to {spec.purpose}. Get it from {spec.source}",
                               path=spec.path)
    if spec.validate is None:
        return "present"
    try:
        return spec.validate(spec.path)
    except W2VVXError as error:
        raise _with_source(error, spec) from None
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as error:
        raise DataFormatError(f"cannot read {spec.name} ({type(error).__name__}: {error}) "
                              f"[{spec.name} comes from {spec.source}]", path=spec.path) from None


def check_inputs(specs: Iterable[InputFile]) -> Dict[str, str]:
    """Check every input (in order; the first problem raises). Returns ``{name: summary}``."""
    return {spec.name: check_input(spec) for spec in specs}


# ---- validators (each returns a short summary or raises DataFormatError) -------------------------
def count_text_lines(path: Path) -> int:
    """Number of lines of a text file (``.gz`` decompressed); a last line without newline counts."""
    opener = gzip.open if str(path).endswith(".gz") else open
    count, last = 0, b"\n"
    with opener(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def read_lines(path: Path) -> List[str]:
    """UTF-8 lines of a text file (``.gz`` decompressed), without line ends; errors name path and line."""
    opener = gzip.open if str(path).endswith(".gz") else open
    lines = []
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                lines.append(raw.decode("utf-8").rstrip("\r\n"))
            except UnicodeDecodeError:
                raise DataFormatError("line is not valid UTF-8", path=path, line=number) from None
    return lines


def sentence_file_validator(expected_lines: Optional[int] = None) -> Callable[[Path], str]:
    """Validator of a one-sentence-per-line file (Multi30K ``*.gz``): readable, UTF-8, no blank line."""
    def validate(path: Path) -> str:
        try:
            lines = read_lines(path)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise DataFormatError(f"not a readable gzip/text file ({error})", path=path) from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                raise DataFormatError("blank sentence; expected one sentence per line", path=path, line=number)
        if expected_lines is not None and len(lines) != expected_lines:
            raise DataFormatError(f"{len(lines)} lines, expected {expected_lines} (one per image of the split file)",
                                  path=path)
        return f"{len(lines)} sentences"
    return validate


def id_list_validator(path: Path) -> str:
    """Validator of an id list (ImageSets / Multi30K image_splits): one unique id per line."""
    from w2vvx.io.imagesets import read_imageset

    return f"{len(read_imageset(path))} ids"


def caption_file_validator(path: Path) -> str:
    """Validator of a ``*.caption.txt`` file (``<sent_id> <sentence>`` per line)."""
    from w2vvx.io.captions import read_captions

    captions = read_captions(path)
    return f"{len(captions)} captions of {len({c.item_id for c in captions})} items"


def bigfile_validator(expected_dim: Optional[int] = None) -> Callable[[Path], str]:
    """Validator of a BigFile folder (shape.txt, id.txt, feature.bin consistent)."""
    def validate(path: Path) -> str:
        from w2vvx.io.bigfile import BigFile

        bigfile = BigFile(path)
        if expected_dim is not None and bigfile.ndims != expected_dim:
            raise DataFormatError(f"features have {bigfile.ndims} dimensions, expected {expected_dim}", path=path)
        return f"BigFile {bigfile.shape[0]} x {bigfile.shape[1]}"
    return validate


def npy_validator(expected_rows: Optional[int] = None) -> Callable[[Path], str]:
    """Validator of a 2-D ``.npy`` matrix (read as a memory map, never unpickled)."""
    def validate(path: Path) -> str:
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            raise DataFormatError(f"not a plain numeric .npy array ({error})", path=path) from None
        if array.ndim != 2:
            raise DataFormatError(f"expected a 2-D array (rows x dims), found shape {array.shape}", path=path)
        if expected_rows is not None and array.shape[0] != expected_rows:
            raise DataFormatError(f"{array.shape[0]} rows, expected {expected_rows} (one per id of its id list)",
                                  path=path)
        return f".npy {array.shape[0]} x {array.shape[1]} {array.dtype}"
    return validate


# ------------------------------------------------------------------------------------------------
# Steps
# ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Step:
    """One resumable unit of work.

    Attributes:
        name: unique within the recipe (the name of its done-record).
        description: what it does, for the plan.
        outputs: the files/folders it writes (all must exist for the step to count as done).
        action: does the work, writing each output atomically.
    """

    name: str
    description: str
    outputs: Sequence[Path]
    action: Callable[[], None]


class StepRunner:
    """Run steps once: a step whose done-record and outputs exist is skipped.

    Args:
        rootpath: the VisualSearch root; records go to ``<rootpath>/.w2vvx-recipes/<recipe>/``.
        recipe: the recipe name.
        force: redo every step.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()); out = root / "a.txt"; calls = []
        >>> step = Step("write-a", "write a.txt", [out], lambda: (calls.append(1), out.write_text("a")))
        >>> runner = StepRunner(root, "demo")
        >>> runner.run([step]), runner.run([step]), len(calls)
        (['write-a'], [], 1)
    """

    def __init__(self, rootpath, recipe: str, force: bool = False):
        self.state_dir = Path(rootpath) / STATE_DIR / recipe
        self.force = force

    def record_path(self, step: Step) -> Path:
        return self.state_dir / f"{step.name}.done"

    def is_done(self, step: Step) -> bool:
        record = self.record_path(step)
        if self.force or not record.is_file():
            return False
        try:
            recorded = json.loads(record.read_text(encoding="utf-8"))["outputs"]
        except (ValueError, KeyError, TypeError):
            return False
        return recorded == [str(p) for p in step.outputs] and all(Path(p).exists() for p in step.outputs)

    def run(self, steps: Sequence[Step]) -> List[str]:
        """Run the steps not yet done, in order; return the names of those that ran."""
        ran = []
        for step in steps:
            if self.is_done(step):
                logger.info("step %s: done already, skipped", step.name)
                continue
            logger.info("step %s: %s", step.name, step.description)
            self.record_path(step).unlink(missing_ok=True)
            step.action()
            missing = [str(p) for p in step.outputs if not Path(p).exists()]
            if missing:
                raise W2VVXError(f"step {step.name} finished without writing {missing}; this is a recipe bug")
            with atomic_path(self.record_path(step)) as tmp:
                tmp.write_text(json.dumps({"outputs": [str(p) for p in step.outputs]}), encoding="utf-8")
            ran.append(step.name)
        return ran


def render_plan(title: str, inputs: Sequence[InputFile], summaries: Mapping[str, str], steps: Sequence[Step],
                runner: StepRunner, protocol: Sequence[str] = (), published: Sequence[str] = ()) -> str:
    """The text of ``--dry-run``: inputs with source and purpose, steps with status, the protocol."""
    lines = [f"# {title}", "", "Inputs (checked):"]
    for spec in inputs:
        lines.append(f"  - {spec.name}: {spec.path}  [{summaries.get(spec.name, 'not checked')}]")
        lines.append(f"      published at: {spec.source}")
        lines.append(f"      used to: {spec.purpose}")
    lines += ["", "Prepare steps (outputs under rootpath):"]
    for step in steps:
        status = "done" if runner.is_done(step) else "to do"
        lines.append(f"  - [{status}] {step.name}: {step.description}")
        for output in step.outputs:
            lines.append(f"      -> {output}")
    if protocol:
        lines += ["", "Run (protocol):"] + [f"  - {line}" for line in protocol]
    if published:
        lines += ["", "Published figures to compare with:"] + [f"  - {line}" for line in published]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Model settings, training, encoding, scoring
# ------------------------------------------------------------------------------------------------
def model_config(name: str, small_scale: bool = False, **overrides):
    """The named config, made tiny for ``small_scale`` (the ``smoke`` model size), plus ``overrides``
    (:func:`w2vvx.models.sizes.sized_config`: the sizing rule of do-all and ``w2vvx train`` too)."""
    from w2vvx.models.sizes import sized_config

    return sized_config(name, "smoke" if small_scale else "lineage", **overrides)


def small_scale_trainer_options(small_scale: bool) -> dict:
    """Trainer options of a ``--small-scale`` smoke run: accept validation splits of a few items."""
    return {"min_val_items": 2} if small_scale else {}


def nrccr_config(small_scale: bool = False, **overrides):
    """The ``nrccr`` config (encoders of the NRCCR model), made tiny for ``small_scale``.

    Example:
        >>> nrccr_config().name
        'nrccr'
    """
    return model_config("nrccr", small_scale, **overrides)


def train(config, run_dir, train_captions, features, val_captions, val_features=None, val_items=None,
          word_vectors=None, trusted: bool = False, default_language: str = "en", seed: int = 0,
          verbose: int = 2, **trainer_options):
    """Train (or resume, or skip when finished) one model; returns the loaded best run.

    The run folder makes training resumable: a finished run is loaded as is, an interrupted one
    continues from its last checkpoint. ``trainer_options`` go to :class:`~w2vvx.training.trainer.Trainer`.
    """
    from w2vvx.pipeline import fit_or_stop
    from w2vvx.training.trainer import Trainer, load_run

    trainer = Trainer(config, run_dir, train_captions, features, val_captions, val_features=val_features,
                      val_items=val_items, word_vectors=word_vectors, trusted=trusted,
                      default_language=default_language, seed=seed, verbose=verbose, tensorboard=False,
                      **trainer_options)
    fit_or_stop(trainer)  # Ctrl-C / SIGTERM: TrainingStopped after the last complete epoch
    return load_run(run_dir)


def write_report(path, rows: Mapping[str, Mapping[str, float]], header_lines: Sequence[str] = ()) -> str:
    """Write a Markdown results table (library :class:`ResultsTable`) with a header; returns the text."""
    from w2vvx.evaluation.report import ResultsTable

    table = ResultsTable()
    for setting, metrics in rows.items():
        table.add(setting, metrics)
    text = "\n".join(list(header_lines) + ["", table.to_markdown(), ""])
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return text


def first_n_items(captions, n: Optional[int]) -> list:
    """Captions of the first ``n`` distinct items (all when ``n`` is None)."""
    if n is None:
        return list(captions)
    keep = set(list(dict.fromkeys(c.item_id for c in captions))[:n])
    return [c for c in captions if c.item_id in keep]


__all__ = ["InputFile", "Step", "StepRunner", "check_input", "check_inputs", "render_plan", "count_text_lines",
           "read_lines", "sentence_file_validator", "id_list_validator", "caption_file_validator",
           "bigfile_validator", "npy_validator", "model_config", "nrccr_config", "small_scale_trainer_options", "train", "write_report",
           "first_n_items", "SMALL_SCALE_OVERRIDES"]
