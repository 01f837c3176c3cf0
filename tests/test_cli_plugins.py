"""CLI plugins come from the ``w2vvx.cli_plugins`` entry-point group; a broken plugin is an error, never silence."""
import sys

import click
import pytest
from click.testing import CliRunner

from w2vvx.cli import PLUGIN_GROUP, PluginGroup


def _install_fake_distribution(tmp_path, monkeypatch):
    (tmp_path / "fake_w2vvx_plugin.py").write_text(
        "import click\n\n@click.command()\ndef hello():\n    click.echo('hello from a plugin')\n", encoding="utf-8")
    dist = tmp_path / "fake_w2vvx_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-w2vvx-plugin\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        f"[{PLUGIN_GROUP}]\nhello = fake_w2vvx_plugin:hello\nbroken = fake_w2vvx_missing_module:command\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fake_w2vvx_plugin", raising=False)


def _group():
    @click.group(cls=PluginGroup)
    def group():
        """A test group."""

    @group.command()
    def builtin():
        click.echo("built in")

    return group


def test_plugins_are_mounted_and_a_broken_one_says_why(tmp_path, monkeypatch):
    _install_fake_distribution(tmp_path, monkeypatch)
    group = _group()
    runner = CliRunner()
    out = runner.invoke(group, ["hello"])
    assert out.exit_code == 0 and "hello from a plugin" in out.output
    listing = runner.invoke(group, ["--help"])
    assert "builtin" in listing.output and "hello" in listing.output and "broken plugin" in listing.output
    broken = runner.invoke(group, ["broken", "anything"])
    assert broken.exit_code != 0
    assert "fake_w2vvx_missing_module" in str(broken.exception) and "ModuleNotFoundError" in str(broken.exception)


def test_builtin_commands_work_without_plugins():
    out = CliRunner().invoke(_group(), ["builtin"])
    assert out.exit_code == 0 and out.output.strip() == "built in"


def test_main_called_from_python_refuses_a_backend_it_cannot_switch_to(capsys):
    import keras

    from w2vvx.cli import main

    other = "jax" if keras.backend.backend() != "jax" else "torch"
    with pytest.raises(SystemExit) as exit_info:
        main(["--backend", other, "env"])
    assert exit_info.value.code == 2
    assert f"set KERAS_BACKEND={other}" in capsys.readouterr().err


def test_console_backend_option_runs_on_that_backend_wherever_it_stands(tmp_path):
    """``--rootpath DIR --backend X`` used to run on the default backend (only a leading --backend counted)."""
    import os
    import subprocess

    import keras

    here = keras.backend.backend()
    other = "jax" if here != "jax" else "torch"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND=here, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH", "")])))
    done = subprocess.run([sys.executable, "-m", "w2vvx.cli", "--rootpath", str(tmp_path), "--backend", other, "env"],
                          env=env, cwd=repo,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("keras backend"))
    assert line.split()[-1] == other
