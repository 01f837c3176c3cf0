"""BigFile reading, writing and conversion (w2vvx.io.bigfile, w2vvx.io.hdf5)."""
import logging

import h5py
import numpy as np
import pytest

from w2vvx.errors import ConfigError, DataFormatError, MissingFileError
from w2vvx.io.bigfile import BigFile, BigFileWriter, parse_shape_text, write_bigfile
from w2vvx.io.bigfile_convert import hdf5_to_bigfile, npy_to_bigfile, txt2bin
from w2vvx.io.hdf5 import read_hdf5_features


def _vectors(n=5, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.fixture
def small(tmp_path):
    names = [f"id{i}" for i in range(5)]
    vectors = _vectors()
    write_bigfile(tmp_path / "feat", names, vectors)
    return tmp_path / "feat", names, vectors


def test_round_trip_and_lineage_layout(small):
    path, names, vectors = small
    assert (path / "shape.txt").read_text() == "5 3\n"
    assert (path / "id.txt").read_text() == " ".join(names) + "\n"
    assert (path / "feature.bin").stat().st_size == 5 * 3 * 4
    np.testing.assert_array_equal(np.fromfile(path / "feature.bin", "<f4").reshape(5, 3), vectors)
    bf = BigFile(path)
    assert bf.shape == (5, 3) and bf.ndims == 3 and len(bf) == 5 and bf.names == names
    assert bf.index("id3") == 3 and "id3" in bf and "nope" not in bf
    np.testing.assert_array_equal(np.asarray(bf.matrix), vectors)
    assert not bf.matrix.flags.writeable


def test_read_skips_unknown_and_returns_file_order(small):
    path, _, vectors = small
    bf = BigFile(path)
    found, got = bf.read(["id4", "missing", "id1", "id4"])
    assert found == ["id1", "id4"]
    np.testing.assert_array_equal(got, vectors[[1, 4]])
    found, got = bf.read(["id4", "missing", "id1", "id4"], order="request")
    assert found == ["id4", "id1", "id4"]
    np.testing.assert_array_equal(got, vectors[[4, 1, 4]])
    assert bf.read(["x"])[1].shape == (0, 3)


def test_read_rows_reorders_and_checks_range(small):
    path, _, vectors = small
    bf = BigFile(path)
    order = [4, 0, 2, 0]
    np.testing.assert_array_equal(bf.read_rows(order), vectors[order])
    assert bf.read_rows([]).shape == (0, 3)
    with pytest.raises(IndexError, match="out of range"):
        bf.read_rows([0, 5])
    with pytest.raises(IndexError):
        bf.read_rows([-1])
    with pytest.raises(KeyError, match="not in"):
        bf.index("zzz")


def test_id_txt_one_per_line_accepted(small):
    path, names, _ = small
    (path / "id.txt").write_text("\n".join(names) + "\n")
    assert BigFile(path).names == names


def test_non_utf8_id_falls_back_to_latin1_with_one_warning(small, caplog):
    path, names, _ = small
    (path / "id.txt").write_bytes(b"id0 caf\xe9 id2 na\xefve id4")
    with caplog.at_level(logging.WARNING, logger="w2vvx.io.bigfile"):
        bf = BigFile(path)
    assert bf.names[1] == "café" and bf.names[3] == "naïve"
    assert len([r for r in caplog.records if "ISO-8859-1" in r.getMessage()]) == 1


def test_missing_folder_and_parts(tmp_path, small):
    with pytest.raises(MissingFileError, match="BigFile folder not found"):
        BigFile(tmp_path / "absent")
    path, _, _ = small
    (path / "shape.txt").unlink()
    with pytest.raises(MissingFileError, match="shape.txt"):
        BigFile(path)


@pytest.mark.parametrize("content", [b"", b"5", b"5 3 1", b"five 3", b"-5 3", b"5 0", b"5.0 3", b"\xff\xfe"])
def test_malformed_shape(small, content):
    path, _, _ = small
    (path / "shape.txt").write_bytes(content)
    with pytest.raises(DataFormatError, match="shape.txt"):
        BigFile(path)


def test_id_count_mismatch(small):
    path, names, _ = small
    (path / "id.txt").write_text(" ".join(names[:4]))
    with pytest.raises(DataFormatError, match="found 4 ids but shape.txt says N=5"):
        BigFile(path)


def test_truncated_feature_file(small):
    path, _, _ = small
    data = (path / "feature.bin").read_bytes()
    (path / "feature.bin").write_bytes(data[:-7])
    with pytest.raises(DataFormatError, match=r"truncated.*7 bytes missing.*re-download"):
        BigFile(path)


def test_oversized_feature_file(small):
    path, _, _ = small
    with open(path / "feature.bin", "ab") as handle:
        handle.write(b"\0" * 12)
    with pytest.raises(DataFormatError, match=r"oversized.*12 bytes too many"):
        BigFile(path)


def test_duplicate_ids_named_with_positions(small):
    path, _, _ = small
    (path / "id.txt").write_text("a b c b d")
    with pytest.raises(DataFormatError, match=r"duplicate id 'b' at positions 1 and 3"):
        BigFile(path)


def test_validate_finds_nan_row_chunked(tmp_path):
    vectors = _vectors(10, 2)
    path = tmp_path / "f"
    write_bigfile(path, [f"v{i}" for i in range(10)], vectors)
    with open(path / "feature.bin", "r+b") as handle:
        handle.seek(7 * 2 * 4)
        handle.write(np.array([np.nan], "<f4").tobytes())
    bf = BigFile(path)  # no scan at open by default
    with pytest.raises(DataFormatError, match=r"row 7 \(id 'v7'\) holds NaN"):
        bf.validate(chunk_rows=3)
    with pytest.raises(DataFormatError, match="row 7"):
        BigFile(path, check_finite=True)


def test_empty_bigfile(tmp_path):
    with BigFileWriter(tmp_path / "e", dim=4):
        pass
    bf = BigFile(tmp_path / "e")
    assert bf.shape == (0, 4) and bf.read(["a"])[1].shape == (0, 4)
    bf.validate()


def test_writer_streams_and_commits_atomically(tmp_path):
    target = tmp_path / "stream"
    writer = BigFileWriter(target, dim=3)
    writer.add(["a", "b"], _vectors(2))
    assert not target.exists()
    writer.add(["c"], _vectors(1, seed=1))
    writer.close()
    bf = BigFile(target)
    assert bf.names == ["a", "b", "c"]
    np.testing.assert_array_equal(bf.read_rows([2]), _vectors(1, seed=1))


def test_writer_failure_leaves_nothing(tmp_path):
    target = tmp_path / "stream"
    with pytest.raises(RuntimeError):
        with BigFileWriter(target, dim=3) as writer:
            writer.add(["a"], _vectors(1))
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_duplicates_nan_and_bad_shapes(tmp_path):
    with BigFileWriter(tmp_path / "w", dim=3) as writer:
        writer.add(["a"], _vectors(1))
        with pytest.raises(DataFormatError, match="duplicate id 'a'"):
            writer.add(["b", "a"], _vectors(2))
        bad = _vectors(2)
        bad[1, 0] = np.inf
        with pytest.raises(DataFormatError, match=r"position 2 \(id 'y'\) holds NaN or Inf"):
            writer.add(["x", "y"], bad)
        with pytest.raises(DataFormatError, match="4 dimensions, expected 3"):
            writer.add(["z"], _vectors(1, 4))
        with pytest.raises(DataFormatError, match="whitespace"):
            writer.add(["has space"], _vectors(1))
        writer.add(["b"], _vectors(1))
    assert BigFile(tmp_path / "w").names == ["a", "b"]


def test_write_refuses_existing_without_overwrite(small):
    path, names, vectors = small
    with pytest.raises(ConfigError, match="overwrite=True"):
        write_bigfile(path, names, vectors)
    write_bigfile(path, ["q"], vectors[:1], overwrite=True)
    assert BigFile(path).names == ["q"]


def test_txt2bin_skips_duplicates_and_nan_and_header(tmp_path, caplog):
    txt = tmp_path / "vec.txt"
    txt.write_text("5 2\nw1 0.5 1\nw2 nan 1\n\nw1 9 9\nw3 -1e-3 2.5\nw4 1e39 0\n")
    with caplog.at_level(logging.WARNING, logger="w2vvx.io.bigfile"):
        bf = txt2bin(txt, tmp_path / "out")
    assert bf.names == ["w1", "w3"]
    np.testing.assert_allclose(bf.read_rows([0, 1]), [[0.5, 1], [-1e-3, 2.5]])
    assert "skipped 1 duplicate id(s) and 2 row(s) with NaN/Inf" in caplog.text  # 1e39 overflows float32


def test_txt2bin_ragged_dims_names_line(tmp_path):
    txt = tmp_path / "vec.txt"
    txt.write_text("a 1 2 3\nb 1 2 3\nc 1 2\n")
    with pytest.raises(DataFormatError, match=r"vec.txt:3: found 2 values, expected 3"):
        txt2bin(txt, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_txt2bin_non_number_names_line(tmp_path):
    txt = tmp_path / "vec.txt"
    txt.write_text("a 1 2\nb 1 x\n")
    with pytest.raises(DataFormatError, match=r"vec.txt:2: a value of id 'b' is not a number"):
        txt2bin(txt, tmp_path / "out")


def test_txt2bin_without_header_and_small_chunks(tmp_path):
    txt = tmp_path / "vec.txt"
    rows = _vectors(7, 2)
    txt.write_text("".join(f"r{i} {a!r} {b!r}\n" for i, (a, b) in enumerate(rows.tolist())))
    bf = txt2bin(txt, tmp_path / "out", chunk_rows=2)
    np.testing.assert_array_equal(np.asarray(bf.matrix), rows)


def test_txt2bin_empty_file(tmp_path):
    (tmp_path / "e.txt").write_text("\n\n")
    with pytest.raises(DataFormatError, match="no vectors"):
        txt2bin(tmp_path / "e.txt", tmp_path / "out")


def test_npy_round_trip_with_id_file(tmp_path):
    vectors = _vectors(6, 4).astype(np.float64)
    np.save(tmp_path / "x.npy", vectors)
    (tmp_path / "ids.txt").write_text("\n".join(f"{i}.jpg" for i in range(6)) + "\n")
    bf = npy_to_bigfile(tmp_path / "x.npy", tmp_path / "ids.txt", tmp_path / "out", chunk_rows=4)
    assert bf.names[5] == "5.jpg"
    np.testing.assert_array_equal(np.asarray(bf.matrix), vectors.astype(np.float32))


def test_npy_id_count_mismatch(tmp_path):
    np.save(tmp_path / "x.npy", _vectors(3))
    with pytest.raises(DataFormatError, match="3 rows but 2 ids"):
        npy_to_bigfile(tmp_path / "x.npy", ["a", "b"], tmp_path / "out")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match="npy"):
        npy_to_bigfile(tmp_path / "o.npy", ["a"], tmp_path / "out2")


def test_hdf5_round_trip(tmp_path):
    vectors = _vectors(4, 3)
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as handle:
        handle.create_dataset("grp/feat", data=vectors)
        handle.create_dataset("ids", data=np.array([b"a", b"b", b"c", b"d"]))
    bf = hdf5_to_bigfile(h5, "grp/feat", "ids", tmp_path / "out")
    assert bf.names == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(np.asarray(bf.matrix), vectors)
    names, loaded = read_hdf5_features(h5, "grp/feat", "ids")
    assert names == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(loaded, vectors)
    bf2 = hdf5_to_bigfile(h5, "grp/feat", ["w", "x", "y", "z"], tmp_path / "out2")
    assert bf2.names[0] == "w"


def test_hdf5_errors(tmp_path):
    h5 = tmp_path / "f.h5"
    with h5py.File(h5, "w") as handle:
        handle.create_dataset("feat", data=_vectors(2))
    with pytest.raises(DataFormatError, match=r"no dataset 'nope'.*\['feat'\]"):
        read_hdf5_features(h5, "nope")
    with pytest.raises(MissingFileError):
        read_hdf5_features(tmp_path / "absent.h5", "feat")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DataFormatError, match="HDF5"):
        read_hdf5_features(tmp_path / "text.h5", "feat")


def test_parse_shape_text():
    assert parse_shape_text(b" 31014   384 \n") == (31014, 384)


def test_pivot_fixture_unit_norm(fixtures_dir):
    bf = BigFile(fixtures_dir / "pivot" / "msrvtt-cn_minilm_en_pivot", check_finite=True)
    assert bf.shape == (5, 384) and bf.names[0] == "video9770"
    np.testing.assert_allclose(np.linalg.norm(np.asarray(bf.matrix), axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("dataset,shape", [("flickr8k-cn", (8000, 384)), ("multi30k", (31014, 384)),
                                           ("vatex", (1500, 384)), ("msrvtt-cn", (1000, 384))])
def test_real_pivot_bigfiles(shared_data, dataset, shape):
    bf = BigFile(shared_data / "pivot" / dataset / "minilm_en_pivot")
    assert bf.shape == shape
    bf.validate(chunk_rows=4096)
    rows = bf.read_rows(np.arange(0, shape[0], 97))
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    if dataset == "flickr8k-cn":
        assert bf.names[0].endswith(".jpg")
