"""`w2vvx index build` and `w2vvx search`: a stored index, queries from arguments/stdin/file, captions, --split."""
import json

import pytest
from click.testing import CliRunner

from w2vvx.cli import cli
from w2vvx.datasets.synthetic import generate_collection
from w2vvx.errors import ConfigError
from w2vvx.search.ann import available_backends


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("visualsearch")
    generate_collection(root, name="toy", scale="tiny", languages=("zh",), feature_dim=16, feature_name="f16")
    run_dir = root / "run"
    out = CliRunner().invoke(cli, ["--rootpath", str(root), "train", "w2vvpp", "--collection", "toy", "--size", "tiny",
                                   "--epochs", "1", "--run-dir", str(run_dir), "--set", "common_space_dim=16"],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return root, run_dir, out.output


def _invoke(root, *args, **kwargs):
    out = CliRunner().invoke(cli, ["--rootpath", str(root), *map(str, args)], catch_exceptions=False, **kwargs)
    return out


def _json_lines(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_train_defaults_and_progress_without_carriage_returns(trained):
    root, run_dir, output = trained
    config = json.loads((run_dir / "config.json").read_text())
    assert config["max_epochs"] == 1 and config["gru_units"] == 32  # --epochs, --size tiny
    assert "\r" not in output  # stdout is not a terminal: one line per epoch
    help_text = _invoke(root, "train", "--help").output
    assert "[default: small]" in help_text.replace("\n", " ") or "default: small" in help_text


def test_index_build_then_search_from_arguments_and_stdin(trained, tmp_path):
    root, run_dir, _ = trained
    index = tmp_path / "index"
    built = _invoke(root, "index", "build", run_dir, "--collection", "toy", "--split", "test", "--out", index)
    assert built.exit_code == 0, built.output
    meta = json.loads((index / "index.json").read_text())
    assert (meta["kind"], meta["split"], meta["size"], meta["metric"]) == ("exact", "test", 40, "cos")
    query = "a dog runs on the grass"
    one = _invoke(root, "search", run_dir, *query.split(), "--index", index, "-k", "3", "--json")
    assert one.exit_code == 0, one.output
    [result] = _json_lines(one.output)
    hits = result["results"]
    assert [hit["rank"] for hit in hits] == [1, 2, 3] and result["query"] == query
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"] and -1.0 <= hits[2]["score"] <= 1.0
    assert all(hit["captions"] for hit in hits)  # the test captions were stored with the index
    direct = _invoke(root, "search", run_dir, *query.split(), "--collection", "toy", "--split", "test", "-k", "3",
                     "--json")
    assert [hit["id"] for hit in _json_lines(direct.output)[0]["results"]] == [hit["id"] for hit in hits]
    several = _invoke(root, "search", run_dir, "--index", index, "-k", "2", "--json", input=f"{query}\na red car\n")
    assert several.exit_code == 0, several.output
    assert [line["query"] for line in _json_lines(several.output)] == [query, "a red car"]
    table = _invoke(root, "search", run_dir, *query.split(), "--index", index, "-k", "2")
    assert table.output.splitlines()[1].split()[:2] == ["1", hits[0]["id"]]


def test_search_refuses_a_split_the_index_does_not_hold(trained, tmp_path):
    root, run_dir, _ = trained
    index = tmp_path / "index"
    assert _invoke(root, "index", "build", run_dir, "--collection", "toy", "--split", "test", "--out", index,
                   "--no-captions").exit_code == 0
    out = CliRunner().invoke(cli, ["--rootpath", str(root), "search", str(run_dir), "a", "dog", "--index", str(index),
                                   "--split", "train"])
    assert out.exit_code == 2 and "holds the 'test' items" in out.output


@pytest.mark.skipif("faiss" not in available_backends(), reason="faiss is not installed (pip install w2vvx[ann])")
def test_approximate_index_agrees_with_the_exact_one(trained, tmp_path):
    root, run_dir, _ = trained
    for kind in ("exact", "faiss"):
        out = _invoke(root, "index", "build", run_dir, "--collection", "toy", "--out", tmp_path / kind, "--kind",
                      kind, "--no-captions")
        assert out.exit_code == 0, out.output
    tops = [_json_lines(_invoke(root, "search", run_dir, "a", "dog", "--index", tmp_path / kind, "-k", "1",
                                "--json").output)[0]["results"][0]["id"] for kind in ("exact", "faiss")]
    assert tops[0] == tops[1]


def test_index_build_refuses_a_folder_that_is_not_an_index_and_rebuilds_only_with_overwrite(trained, tmp_path):
    root, run_dir, _ = trained
    (tmp_path / "notes.txt").write_text("mine")
    out = CliRunner().invoke(cli, ["--rootpath", str(root), "index", "build", str(run_dir), "--collection", "toy",
                                   "--split", "test", "--out", str(tmp_path)])
    assert isinstance(out.exception, ConfigError) and "not a w2vvx index folder" in str(out.exception)
    index = tmp_path / "index"
    args = ["--rootpath", str(root), "index", "build", str(run_dir), "--collection", "toy", "--split", "test",
            "--out", str(index), "--no-captions"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    again = CliRunner().invoke(cli, args)
    assert isinstance(again.exception, ConfigError) and "--overwrite" in str(again.exception)
    assert CliRunner().invoke(cli, args + ["--overwrite"]).exit_code == 0


def test_search_without_an_index_prints_every_row(trained):
    """Default mode (items encoded on the fly) used to die after the first row: the loop reassigned `texts`."""
    root, run_dir, _ = trained
    out = _invoke(root, "search", run_dir, "a", "dog", "-k", "3", "--collection", "toy", "--split", "test")
    rows = out.output.splitlines()
    assert out.exit_code == 0 and rows[0] == "query: a dog" and [row.split()[0] for row in rows[1:]] == ["1", "2", "3"]


def test_search_refuses_an_index_of_another_collection(trained, tmp_path):
    root, run_dir, _ = trained
    index = tmp_path / "index"
    assert _invoke(root, "index", "build", run_dir, "--collection", "toy", "--out", index,
                   "--no-captions").exit_code == 0
    out = CliRunner().invoke(cli, ["--rootpath", str(root), "search", str(run_dir), "a", "dog", "--index", str(index),
                                   "--collection", "other", "--split", "test"])
    assert out.exit_code == 2 and "holds items of collection 'toy', not of 'other'" in " ".join(out.output.split())


def test_encode_and_index_build_in_shards_then_merged_equal_one_process(trained, tmp_path):
    from w2vvx.io.bigfile import BigFile

    root, run_dir, _ = trained
    common = ["--collection", "toy", "--split", "test"]
    whole = _invoke(root, "encode", run_dir, *common, "--out", tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    for shard in ("0/3", "2/3", "1/3"):
        part = _invoke(root, "encode", run_dir, *common, "--out", tmp_path / "merged", "--shard", shard)
        assert part.exit_code == 0, part.output
    assert not (tmp_path / "merged").exists()
    merged = _invoke(root, "encode", run_dir, *common, "--out", tmp_path / "merged", "--merge-shards", "3")
    assert merged.exit_code == 0, merged.output
    one, joined = BigFile(tmp_path / "whole"), BigFile(tmp_path / "merged")
    assert joined.names == one.names and len(one) == 40
    assert abs(joined.matrix - one.matrix).max() < 1e-5
    assert not (tmp_path / "merged.shards").exists()  # the parts are removed once joined

    index = tmp_path / "index"
    for shard in ("1/2", "0/2"):
        assert _invoke(root, "index", "build", run_dir, *common, "--out", index, "--shard", shard).exit_code == 0
    built = _invoke(root, "index", "build", run_dir, *common, "--out", index, "--merge-shards", "2")
    assert built.exit_code == 0, built.output
    query = ["a", "dog", "runs"]
    sharded = _invoke(root, "search", run_dir, *query, "--index", index, "-k", "5", "--json")
    direct = _invoke(root, "search", run_dir, *query, *common, "-k", "5", "--json")
    assert [hit["id"] for hit in _json_lines(sharded.output)[0]["results"]] == \
        [hit["id"] for hit in _json_lines(direct.output)[0]["results"]]
