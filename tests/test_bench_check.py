"""The comparison behind ``benchmarks/bench_train.py --check``, on synthetic tables (no timing)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = _load("_common")


def _table(runs_by_row):
    rows = {key: {"runs": runs} for key, runs in runs_by_row.items()}
    return {"rows": common.summarize_rows(rows, "torch_reference")}


STORED = _table({"w2vvpp b128 float32": {"torch_reference": [50.0, 52.0, 48.0], "jax": [80.0, 78.0, 84.0],
                                         "torch": [100.0, 110.0, 90.0]}})


def test_summarize_rows_takes_ratios_per_round_and_skips_failed_runs():
    table = _table({"r": {"torch_reference": [50.0, None, 40.0], "jax": [100.0, 90.0, 100.0]}})
    row = table["rows"]["r"]
    assert row["rate"]["jax"] == {"median": 100.0, "min": 90.0, "max": 100.0, "n": 3}
    assert row["ratio"]["jax"] == {"median": 2.25, "min": 2.0, "max": 2.5, "n": 2}  # round 2 has no baseline


def test_identical_rerun_passes():
    assert common.check_tables(STORED, STORED) == []


def test_rerun_inside_the_widened_spread_passes():
    # stored jax ratio min-max 1.50-1.75 (median 1.60); 5% of 1.60 = 0.08 -> accepted 1.42-1.83
    rerun = _table({"w2vvpp b128 float32": {"torch_reference": [50.0] * 3, "jax": [75.0] * 3}})  # 1.50x
    assert common.check_tables(STORED, rerun) == []


def test_slower_and_faster_ratios_fail_with_the_numbers():
    rerun = _table({"w2vvpp b128 float32": {"torch_reference": [50.0] * 3, "jax": [70.0] * 3,  # 1.40x
                                            "torch": [130.0] * 3}})  # 2.60x, stored 1.88-2.12
    lines = common.check_tables(STORED, rerun)
    assert len(lines) == 2
    jax_line = next(line for line in lines if " jax:" in line)
    assert "1.40x" in jax_line and "slower" in jax_line and "1.42-1.83" in jax_line
    torch_line = next(line for line in lines if " torch:" in line)
    assert "faster" in torch_line and torch_line.startswith("FAIL w2vvpp b128 float32 torch")


def test_floor_zero_uses_the_stored_min_max_alone():
    rerun = _table({"w2vvpp b128 float32": {"torch_reference": [50.0] * 3, "jax": [73.0] * 3}})  # 1.46x
    assert common.check_tables(STORED, rerun, floor=0.0)  # below the stored min 1.50
    assert common.check_tables(STORED, rerun) == []


def test_rows_the_stored_table_lacks_or_lost_baselines_fail():
    unknown = _table({"nrccr b128 float32": {"torch_reference": [50.0], "jax": [80.0]}})
    assert common.check_tables(STORED, unknown)[0].startswith("FAIL nrccr b128 float32: not in the stored table")
    no_baseline = _table({"w2vvpp b128 float32": {"torch_reference": [None], "jax": [80.0]}})
    assert "baseline failed" in common.check_tables(STORED, no_baseline)[0]


def test_a_rerun_of_a_subset_is_compared_on_that_subset():
    subset = _table({"w2vvpp b128 float32": {"torch_reference": [50.0, 52.0, 48.0], "jax": [80.0, 78.0, 84.0]}})
    assert common.check_tables(STORED, subset) == []


def test_check_refuses_a_file_that_is_not_a_table(tmp_path):
    bench_train = _load("bench_train")
    bad = tmp_path / "stored.json"
    bad.write_text(json.dumps({"rows": {}}))
    with pytest.raises(SystemExit) as stop:
        bench_train.main(["--check", str(bad)])
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        bench_train.main(["--check", str(tmp_path / "missing.json")])


def test_the_small_benchmark_size_is_the_small_preset_the_main_job_trains():
    """``bench_train.py --size small`` (and the profiles built on it) measure the model of ``size="small"``."""
    from w2vvx.models.sizes import sized_config

    sizes = _load("bench_train").SMALL_SIZES
    for name in ("w2vvpp", "w2vv_attention_ctl", "nrccr"):
        preset = sized_config(name, "small")
        assert (preset.embed_dim, preset.gru_units, preset.w2v_dim) == (sizes["embed"], sizes["gru"], sizes["w2v"]), name


@pytest.mark.parametrize("measures, backend", [("packed", "jax"), ("fit,scan", "torch")])
def test_gru_paths_refuses_measures_it_has_not(measures, backend, monkeypatch, capsys):
    """``packed`` compares torch's ATen GRU with packed_gru: torch only; unknown measures are named."""
    monkeypatch.setenv("KERAS_BACKEND", backend)
    with pytest.raises(SystemExit):
        _load("bench_gru_paths").main(["--measures", measures])
    assert "--measures takes fit, gru and packed" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [(["--shape", "128x1024"], "three positive sizes"),
                                                (["--shape", "0x2x3"], "three positive sizes"),
                                                (["--backends", "torch,mxnet"], "--backends takes")])
def test_matmul_benchmark_refuses_bad_settings(arguments, message, capsys):
    with pytest.raises(SystemExit):
        _load("bench_matmul_cpu").main(arguments)
    assert message in capsys.readouterr().err


def test_stored_commands_name_no_path_of_the_machine_they_ran_on():
    bench_train = _load("bench_train")
    repo = bench_train.REPO
    assert bench_train._portable_path(str(repo / "benchmarks" / "results" / "t.json")) == "benchmarks/results/t.json"
    assert bench_train._portable_path(str(repo.parent / "shared" / "bench" / "r.py")) == "../shared/bench/r.py"
