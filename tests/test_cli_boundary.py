"""The command line as a user meets it: one error boundary, --help without a backend, --backend in any position,
a torch-only install, and the traps of issues #22/#23 that need no trained model (each failed before its fix)."""
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from w2vvx.cli import COMMANDS, cli, main
from w2vvx.console import run_command_group
from w2vvx.datasets.synthetic import generate_collection
from w2vvx.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("keras", "tensorflow", "torch", "jax")


def _python(code, env_extra=None, drop=(), timeout=300):
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env.update({"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=str(REPO), capture_output=True,
                          text=True, timeout=timeout)


def _main(argv, capsys):
    """``(exit status, stdout, stderr)`` of the console entry point."""
    try:
        main([str(arg) for arg in argv])
        code = 0
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("visualsearch")
    generate_collection(root, name="toy", scale="tiny", languages=("zh",), feature_dim=8, feature_name="f8")
    return root


# -- fast and quiet ------------------------------------------------------------------------------------------
def test_every_help_answers_without_importing_a_backend():
    done = _python(f"""
        import sys
        from click.testing import CliRunner
        import w2vvx, w2vvx.cli
        assert "keras" not in sys.modules, "import w2vvx imported keras"
        for args in [["--help"], ["index", "build", "--help"]] + [[name, "--help"] for name in {sorted(COMMANDS)!r}]:
            out = CliRunner().invoke(w2vvx.cli.cli, args)
            assert out.exit_code == 0 and "Usage:" in out.output, (args, out.output)
        print(sorted(name for name in sys.modules if name.split(".")[0] in {FRAMEWORKS!r}))
    """, drop=("KERAS_BACKEND",))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


# -- the backend -----------------------------------------------------------------------------------------------
class _Without:
    """Stands in for the path finder of ``sys.meta_path`` and finds no module of ``package``: to Python and
    ``importlib.util.find_spec`` the package is not installed."""

    def __init__(self, package, finder):
        self.package, self.finder = package, finder

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] == self.package:
            return None
        return self.finder.find_spec(fullname, path, target)

    def invalidate_caches(self):
        self.finder.invalidate_caches()


def _meta_path_without(package):
    import importlib.machinery

    return [_Without(package, finder) if finder is importlib.machinery.PathFinder else finder
            for finder in sys.meta_path]


_BLOCK = """
    import sys
    sys.path.insert(0, {tests!r})
    from test_cli_boundary import _meta_path_without
    sys.meta_path[:] = _meta_path_without({name!r})
"""


def test_a_torch_only_install_starts_on_torch_and_registers_the_classes():
    done = _python(_BLOCK.format(name="tensorflow", tests=str(REPO / "tests")) + """
    import w2vvx
    assert "keras" not in sys.modules
    import w2vvx.devices
    w2vvx.devices.describe_backends = lambda: {}  # what it reports is not the point here (and jax is slow)
    from w2vvx.cli import main
    try:
        main(["env"])
    except SystemExit as exit:
        assert not exit.code, exit.code
    import keras  # imported by `env`, after w2vvx: the classes were registered then
    registered = keras.saving.get_custom_objects()
    for name in ("w2vvx>W2VVRetriever", "w2vvx>NoisyCrossModalModel", "w2vvx>TripletRankingLoss"):
        assert name in registered, name
    """, drop=("KERAS_BACKEND",))
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("keras backend"))
    assert line.split()[-1] == "torch"  # KERAS_BACKEND unset and TensorFlow absent: the installed backend


def test_a_backend_that_is_not_installed_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "meta_path", _meta_path_without("torch"))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    code, out, err = _main(["--backend", "torch", "env"], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().startswith("error: --backend torch: the torch package is not installed")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("order", ["backend-first", "rootpath-first"])
def test_backend_means_the_same_before_or_after_rootpath(tmp_path, capsys, order):
    """In a process where Keras already runs, another --backend is refused wherever it stands (it used to be
    ignored after --rootpath, and the command ran on the wrong backend)."""
    import keras

    other = "jax" if keras.backend.backend() != "jax" else "torch"
    options = [["--backend", other], ["--rootpath", tmp_path]]
    first, second = options if order == "backend-first" else options[::-1]
    code, _, err = _main([*first, *second, "env"], capsys)
    assert code == 2 and f"Keras already runs on {keras.backend.backend()}" in err


def test_expect_gpu_exits_3_through_the_console_entry_point(monkeypatch, capsys):
    import w2vvx.devices

    monkeypatch.setattr(w2vvx.devices, "describe_backends", lambda: {"tensorflow": "cpu", "torch": "not installed",
                                                                     "jax": "not installed"})
    code, out, err = _main(["env", "--expect-gpu"], capsys)
    assert code == 3 and "tensorflow would not train on a GPU" in " ".join(err.split())


# -- one error boundary ------------------------------------------------------------------------------------------
@click.group()
@click.option("-v", "--verbose", count=True)
def _demo(verbose):
    pass


@_demo.command()
def bug():
    {}["missing"]


@_demo.command()
def warns():
    warnings.warn("the query 'xyz' has no word the model knows\nsecond line")
    click.echo("result")


def test_an_exception_that_is_not_the_librarys_is_an_internal_error_line(capsys):
    with pytest.raises(SystemExit) as info:
        run_command_group(_demo, ["bug"], prog_name="demo")
    err = capsys.readouterr().err
    assert info.value.code == 1 and "Traceback" not in err
    assert err.strip() == ("internal error: KeyError: 'missing' (run with -v for the traceback; please report it)")
    with pytest.raises(SystemExit):
        run_command_group(_demo, ["-v", "bug"], prog_name="demo")
    assert "Traceback" in capsys.readouterr().err


def test_a_warning_is_one_line(capsys):
    run_command_group(_demo, ["warns"], prog_name="demo")
    captured = capsys.readouterr()
    assert captured.out == "result\n"
    assert captured.err == "warning: the query 'xyz' has no word the model knows second line\n"


# -- weak cases of #23 --------------------------------------------------------------------------------------------
def test_an_unknown_collection_names_the_ones_there(root, capsys):
    code, _, err = _main(["--rootpath", root, "train", "w2vvpp", "--collection", "nosuch"], capsys)
    assert code == 2 and "no collection 'nosuch'" in err and "collections there: toy" in err
    assert "has features []" not in err


def test_home_unset_with_rootpath_given(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("W2VVX_ROOTPATH", raising=False)
    code, out, err = _main(["--rootpath", tmp_path, "generate", "--name", "mini", "--scale", "tiny", "--feature-dim",
                            "8", "--languages", "zh"], capsys)
    assert code == 0, err
    assert "is not defined" not in err and (tmp_path / "mini" / "FeatureData").is_dir()


def test_generate_refuses_features_that_memory_cannot_hold(tmp_path, capsys):
    code, _, err = _main(["--rootpath", tmp_path, "generate", "--feature-dim", "100000000"], capsys)
    assert code == 2 and "MemoryError" not in err and "use --feature-dim" in err
    assert list(tmp_path.iterdir()) == []


def test_do_all_refuses_a_target_without_captions_before_training(root, tmp_path, capsys):
    code, _, err = _main(["--rootpath", root, "do-all", "--collection", "toy", "--target", "xx", "--run-root",
                          tmp_path / "runs"], capsys)
    assert code == 2 and "--target xx" in err and "no train captions in 'xx'" in err
    assert not (tmp_path / "runs").exists()
    code, _, err = _main(["--rootpath", tmp_path, "do-all", "--target", "xx"], capsys)  # would generate it
    assert code == 2 and "--target xx" in err and not any(tmp_path.iterdir())


def test_vocab_refuses_a_min_count_no_word_reaches(root, tmp_path, capsys):
    out = tmp_path / "vocab"
    code, _, err = _main(["--rootpath", root, "vocab", "--collection", "toy", "--min-count", "100000", "--out", out],
                         capsys)
    assert code == 2 and "--min-count 100000" in err and "use --min-count" in err
    assert not out.exists()
    largest = int(err.split("use --min-count ")[1].split()[0])
    result = CliRunner().invoke(cli, ["--rootpath", str(root), "vocab", "--collection", "toy", "--min-count",
                                      str(largest), "--out", str(out)])
    assert result.exit_code == 0 and (out / f"word_vocab_{largest}.txt").is_file()


# -- the language of training and evaluation ------------------------------------------------------------------------
class _Recorded(Exception):
    pass


def test_train_on_chinese_validates_on_chinese(root, monkeypatch):
    import w2vvx.training.trainer

    seen = {}

    def trainer(config, run_dir, train, features, val, **kwargs):
        seen.update(train=train, val=val, language=kwargs["default_language"])
        raise _Recorded

    monkeypatch.setattr(w2vvx.training.trainer, "Trainer", trainer)
    out = CliRunner().invoke(cli, ["--rootpath", str(root), "train", "w2vvpp", "--collection", "toy",
                                   "--train-variant", "google_enc2zh", "--size", "tiny"])
    assert isinstance(out.exception, _Recorded), out.output
    assert {caption.tag for caption in seen["val"]} == {"zh"} and seen["language"] == "zh"
    assert "validating on the zh captions" in out.output


def test_train_on_a_language_without_validation_captions_is_refused(root, tmp_path):
    import shutil

    copy = tmp_path / "vs"
    shutil.copytree(root / "toy", copy / "toy")
    (copy / "toy" / "TextData" / "toyval_zh.caption.txt").unlink()
    out = CliRunner().invoke(cli, ["--rootpath", str(copy), "train", "w2vvpp", "--collection", "toy",
                                   "--train-variant", "google_enc2zh", "--size", "tiny"])
    assert isinstance(out.exception, ConfigError) and "--val-variant" in str(out.exception)


def test_evaluate_defaults_to_the_runs_language(root):
    from types import SimpleNamespace

    from w2vvx.cli.evaluate import run_language_variant
    from w2vvx.io import Collection

    collection = Collection(root, "toy")
    chinese = SimpleNamespace(languages=["zh"], default_language="zh")
    assert run_language_variant(collection, "test", chinese, "run") == "zh"
    english = SimpleNamespace(languages=["en", "zh"], default_language="en")
    assert run_language_variant(collection, "test", english, "run") is None
    german = SimpleNamespace(languages=["de"], default_language="de")
    with pytest.raises(ConfigError, match="--variant"):
        run_language_variant(collection, "test", german, "run")


def test_load_settings_without_home(tmp_path):
    from w2vvx.config import load_settings

    assert load_settings(rootpath=tmp_path, environ={}).rootpath == tmp_path
