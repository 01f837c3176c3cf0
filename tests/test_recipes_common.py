"""Recipe machinery: input checks that name the file and its source, resumable steps, validators."""
import gzip

import numpy as np
import pytest

from recipes.common import (InputFile, Step, StepRunner, check_input, check_inputs, model_config, nrccr_config,
                            npy_validator, sentence_file_validator)
from w2vvx.errors import DataFormatError, MissingFileError


def test_missing_input_names_file_purpose_and_source(tmp_path):
    spec = InputFile("train.de.gz", tmp_path / "train.de.gz", "https://github.com/multi30k/dataset", "train")
    with pytest.raises(MissingFileError) as raised:
        check_inputs([spec])
    message = str(raised.value)
    assert str(tmp_path / "train.de.gz") in message and "https://github.com/multi30k/dataset" in message


def test_optional_missing_input_is_reported_not_raised(tmp_path):
    spec = InputFile("mt", tmp_path / "mt.txt", "NRCCR release", "fuse", optional=True)
    assert check_input(spec) == "missing (optional)"


def test_malformed_input_error_keeps_line_and_adds_source(tmp_path):
    path = tmp_path / "val.de.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("Ein Hund.\n\nEine Katze.\n")
    spec = InputFile("val.de.gz", path, "multi30k/dataset", "select", sentence_file_validator())
    with pytest.raises(DataFormatError) as raised:
        check_input(spec)
    assert raised.value.line == 2 and "multi30k/dataset" in str(raised.value)


def test_sentence_count_must_match_split(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="2 lines, expected 3"):
        sentence_file_validator(3)(path)


def test_npy_validator_rejects_pickled_and_wrong_rank(tmp_path):
    good, bad, pickled = tmp_path / "good.npy", tmp_path / "bad.npy", tmp_path / "obj.npy"
    np.save(good, np.zeros((3, 4), np.float32))
    np.save(bad, np.zeros(3, np.float32))
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert npy_validator(3)(good) == ".npy 3 x 4 float32"
    with pytest.raises(DataFormatError, match="2-D"):
        npy_validator()(bad)
    with pytest.raises(DataFormatError, match="plain numeric"):
        npy_validator()(pickled)


def test_step_runner_skips_done_steps_and_redoes_half_finished_ones(tmp_path):
    out = tmp_path / "out.txt"
    calls = []

    def crash():
        calls.append("crash")
        out.write_text("partial")
        raise RuntimeError("killed")

    runner = StepRunner(tmp_path, "demo")
    with pytest.raises(RuntimeError):
        runner.run([Step("s", "write", [out], crash)])
    assert not runner.is_done(Step("s", "write", [out], crash))

    def write():
        calls.append("write")
        out.write_text("full")

    step = Step("s", "write", [out], write)
    assert runner.run([step]) == ["s"]
    assert runner.run([step]) == []
    out.unlink()  # an output removed by hand makes the step due again
    assert runner.run([step]) == ["s"]
    assert calls == ["crash", "write", "write"]
    assert StepRunner(tmp_path, "demo", force=True).run([step]) == ["s"]


def test_small_scale_config_is_tiny_and_valid():
    config = model_config("w2vvpp", small_scale=True)
    assert config.gru_units == 16 and config.common_space_dim == 32 and config.max_epochs == 2
    assert model_config("base_w2vv", small_scale=True).common_space_dim is None


def test_nrccr_config_is_the_library_nrccr_config():
    assert nrccr_config().name == "nrccr"
    small = nrccr_config(small_scale=True)
    assert small.name == "nrccr" and small.gru_units == 16 and small.max_epochs == 2
