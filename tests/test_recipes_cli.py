"""The ``recipes`` click group (mounted as ``w2vvx recipe``)."""
import pytest
from click.testing import CliRunner

from recipes.cli import main, recipes


def test_dry_run_prints_the_plan_and_writes_nothing(fixtures_dir, tmp_path):
    root = tmp_path / "root"
    result = CliRunner().invoke(recipes, ["vatex", "prepare", "--source-dir", str(fixtures_dir / "recipes" /
                                                                                   "vatex_release"),
                                          "--rootpath", str(root), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Prepare steps" in result.output and "[to do] captions" in result.output
    assert not root.exists()


def test_multi30k_prepare_via_cli(fixtures_dir, tmp_path):
    root = tmp_path / "root"
    result = CliRunner().invoke(recipes, ["multi30k", "prepare", "--nrccr-dir",
                                          str(fixtures_dir / "releases" / "multi30k"), "--task", "1",
                                          "--rootpath", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "multi30k" / "TextData" / "multi30ktrain_google_enc2de.caption.txt").is_file()
    assert (root / "multi30k" / "FeatureData" / "resnet_152").is_dir()


def test_library_error_exits_2_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["msrvtt-cn", "prepare", "--source-dir", str(tmp_path), "--rootpath", str(tmp_path / "r"), "--dry-run"])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "msrvttcntrain.caption.txt" in error and "nrccr" in error


def test_mounted_in_the_main_cli():
    from importlib.metadata import entry_points

    from w2vvx.cli import PLUGIN_GROUP, cli

    if not any(entry.name == "recipe" for entry in entry_points(group=PLUGIN_GROUP)):
        pytest.skip(f"the recipes are not installed as a {PLUGIN_GROUP} entry point in this environment "
                    "(setup.py entry_points; reinstall with pip install -e .)")
    result = CliRunner().invoke(cli, ["recipe", "--help"])
    assert result.exit_code == 0 and "coco-cn" in result.output and "pivot" in result.output


def test_plugin_object_is_the_recipes_group():
    from recipes import cli as recipes_cli

    assert recipes_cli.recipe is recipes
