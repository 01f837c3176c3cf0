"""End to end: the do-all pipeline on a tiny generated collection, then the CLI on its runs."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from w2vvx.cli import cli
from w2vvx.pipeline import DoAllSettings, run_do_all


#: the tiny size's 8 epochs halved: the pipeline's files and protocols are under test, not convergence
TINY_EPOCHS = {"max_epochs": 4}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("visualsearch")
    settings = DoAllSettings(config="w2vv_attention_ctl", rootpath=str(root), size="tiny", generate_scale="tiny",
                             target_languages=("zh",), verbose=0, overrides=TINY_EPOCHS)
    return root, run_do_all(settings)


@pytest.mark.slow
def test_do_all_writes_results_and_beats_chance(pipeline):
    root, result = pipeline
    assert result.markdown_path.is_file() and result.csv_path.is_file()
    markdown = result.markdown_path.read_text(encoding="utf-8")
    for setting in ("source (en)", "[COCO-CN] CL (zh)", "[COCO-CN] CM-human (zh)", "[COCO-CN] CLM (zh",
                    "[MT] CL (zh)", "[MT] CM-MT (zh)", "[MT] CLM (zh", "Protocol COCO-CN", "Protocol MT"):
        assert setting in markdown
    assert sorted(p.parent.name for p in result.run_root.glob("*/training.png")) == [
        "source_en", "target_zh", "target_zh_human"]
    # 40 test items, 5 captions each: chance t2i R@10 is 25%, i2t R@10 about 23%.
    assert result.metrics["[COCO-CN] CL (zh)"]["t2i_r10"] > 50.0
    assert result.metrics["source (en)"]["i2t_r10"] > 50.0
    assert result.metrics["[MT] CM-MT (zh)"]["i2t_r10"] > 45.0
    assert result.metrics["[COCO-CN] CM-human (zh)"]["i2t_r10"] > 45.0
    for key in ("zh", "zh COCO-CN"):
        assert 0.0 <= result.fusion_weights[key] < 1.0
    for label, cm in (("COCO-CN", "CM-human"), ("MT", "CM-MT")):
        clm = next(v for k, v in result.metrics.items() if k.startswith(f"[{label}] CLM"))
        assert clm["t2i_mir"] >= min(result.metrics[f"[{label}] CL (zh)"]["t2i_mir"],
                                     result.metrics[f"[{label}] {cm} (zh)"]["t2i_mir"]) - 0.05
    saved = json.loads((result.run_root / "metrics.json").read_text())
    assert saved["[MT] CM-MT (zh)"]["t2i_r1"] == pytest.approx(result.metrics["[MT] CM-MT (zh)"]["t2i_r1"])


@pytest.mark.slow
def test_do_all_is_resumable_without_retraining(pipeline, caplog):
    root, result = pipeline
    settings = DoAllSettings(config="w2vv_attention_ctl", rootpath=str(root), size="tiny", generate_scale="tiny",
                             target_languages=("zh",), verbose=0, overrides=TINY_EPOCHS)
    again = run_do_all(settings)
    key = "[MT] CM-MT (zh)"
    assert again.metrics[key]["t2i_r10"] == pytest.approx(result.metrics[key]["t2i_r10"])


@pytest.mark.slow
def test_cli_evaluate_encode_search(pipeline, tmp_path):
    root, result = pipeline
    runner = CliRunner()
    target = str(result.run_root / "target_zh")
    out = runner.invoke(cli, ["--rootpath", str(root), "evaluate", target, "--variant", "zh"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "| test_zh |" in out.output
    encoded = tmp_path / "encoded"
    out = runner.invoke(cli, ["--rootpath", str(root), "encode", target, "--split", "test", "--out", str(encoded)],
                        catch_exceptions=False)
    assert out.exit_code == 0, out.output
    from w2vvx.io.bigfile import BigFile

    bigfile = BigFile(encoded)
    assert len(bigfile) == 40
    assert np.allclose(np.linalg.norm(bigfile.matrix, axis=1), 1.0, atol=1e-4)
    query = "一辆白色的单车和一条鱼在公园"
    out = runner.invoke(cli, ["--rootpath", str(root), "search", target, query, "--index", str(encoded), "-k", "3",
                              "--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    hits = json.loads(out.output.strip().splitlines()[-1])["results"]
    assert len(hits) == 3 and all(hit["id"] in bigfile for hit in hits)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    direct = runner.invoke(cli, ["--rootpath", str(root), "search", target, query, "--split", "test", "-k", "3",
                                 "--json"], catch_exceptions=False)
    assert [h["id"] for h in json.loads(direct.output.strip().splitlines()[-1])["results"]] == [h["id"] for h in hits]


def test_cli_help_and_env():
    runner = CliRunner()
    for command in ([], ["generate"], ["vocab"], ["train"], ["evaluate"], ["encode"], ["search"], ["do-all"], ["env"]):
        out = runner.invoke(cli, command + ["--help"])
        assert out.exit_code == 0, (command, out.output)
        assert "Usage" in out.output
    out = runner.invoke(cli, ["env"])
    assert out.exit_code == 0 and "keras backend" in out.output


@pytest.mark.parametrize("trains_on, code, named", [
    ({"tensorflow": "cpu", "torch": "cuda:0 (NVIDIA H100)", "jax": "not installed"}, 3, ["tensorflow"]),
    ({"tensorflow": "gpu:0 (x)", "torch": "error: RuntimeError: no driver", "jax": "cpu:0 (cpu)"}, 3, ["torch", "jax"]),
    ({"tensorflow": "not installed", "torch": "cuda:0 (NVIDIA H100)", "jax": "gpu:0 (NVIDIA H100)"}, 0, []),
])
def test_env_expect_gpu_names_the_backends_left_on_the_cpu(monkeypatch, trains_on, code, named):
    """What the set-up runs after installing the GPU builds (scripts/bootstrap.sh)."""
    import w2vvx.devices

    monkeypatch.setattr(w2vvx.devices, "describe_backends", lambda: trains_on)
    out = CliRunner().invoke(cli, ["env", "--expect-gpu"])
    assert out.exit_code == code, out.output
    assert ("GPU builds were expected" in out.output) == bool(named)
    if named:
        assert f"expected, but {', '.join(named)} would not train on a GPU" in " ".join(out.output.split())
    assert CliRunner().invoke(cli, ["env"]).exit_code == 0  # without the flag, env only reports


def test_cli_unknown_config_is_a_clear_error(tmp_path, capsys):
    from w2vvx.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--rootpath", str(tmp_path), "train", "w2vv_atention_ctl"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown model config" in err and "w2vv_attention_ctl" in err and "Traceback" not in err


def test_do_all_rejects_an_unknown_config_before_generating_anything(tmp_path):
    from w2vvx.errors import ConfigError

    root = tmp_path / "visualsearch"
    with pytest.raises(ConfigError, match="w2vv_attention_ctl"):
        run_do_all(DoAllSettings(config="w2vv_atention_ctl", rootpath=str(root), size="tiny", generate_scale="tiny"))
    assert not root.exists()


@pytest.mark.slow
def test_ctrl_c_stops_do_all_at_a_resumable_checkpoint_and_the_next_call_resumes(tmp_path, monkeypatch):
    """Ctrl-C during the source model: no target model is trained, and the same call resumes from epoch 1."""
    import keras

    import w2vvx.training.trainer as trainer_module
    from w2vvx.training.signals import TrainingStopped

    class CtrlCAfterFirstEpoch(keras.callbacks.Callback):  # what GracefulStop raises at the epoch boundary
        def on_epoch_end(self, epoch, logs=None):
            raise TrainingStopped("SIGINT")

    original = trainer_module.Trainer.__init__

    def with_ctrl_c(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.extra_callbacks.append(CtrlCAfterFirstEpoch())

    monkeypatch.setattr(trainer_module.Trainer, "__init__", with_ctrl_c)
    run_root = tmp_path / "run"
    settings = DoAllSettings(config="w2vv_attention_ctl", rootpath=str(tmp_path), size="tiny", generate_scale="tiny",
                             target_languages=("zh",), verbose=0, run_root=str(run_root), overrides={"max_epochs": 2})
    with pytest.raises(TrainingStopped):
        run_do_all(settings)
    assert sorted(p.name for p in run_root.iterdir() if p.is_dir()) == ["source_en"]
    first_epoch = _history(run_root / "source_en")
    assert len(first_epoch) == 1 and not (run_root / "results.md").exists()

    monkeypatch.setattr(trainer_module.Trainer, "__init__", original)
    result = run_do_all(settings)
    history = _history(run_root / "source_en")
    assert len(history) == 2 and history[0]["loss"] == first_epoch[0]["loss"]  # resumed: epoch 1 kept, 2 trained
    assert result.markdown_path.is_file() and "[MT] CM-MT (zh)" in result.metrics


def _history(run_dir):
    import csv

    with open(run_dir / "history.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
