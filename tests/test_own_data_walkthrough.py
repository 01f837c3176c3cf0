"""The "Your own data" walk-through (docs/own_data.md) at tiny scale, then the search page it ends with.

Photos from scikit-image, captions from examples/own_data/captions.csv -> extract-features -> collection build
-> train -> index build -> search -> serve (in-process, on a free loopback port): good and bad queries over
HTTP, and a screenshot in headless Chromium when /usr/bin/chromium is installed.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("skimage.data", reason="scikit-image is not installed (pip install w2vvx[test])")

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "own_data"
CHROMIUM = Path("/usr/bin/chromium")


def _cli(*args):
    from w2vvx.cli import cli

    result = CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    work = tmp_path_factory.mktemp("own_data")
    spec = importlib.util.spec_from_file_location("save_photos", EXAMPLE / "save_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.save_photos(work / "my_photos", max_side=96)
    root = work / "visualsearch"
    out = {"extract": _cli("extract-features", work / "my_photos", "--out", work / "features" / "tiny_image",
                           "--model", "tiny_image")}
    out["collection"] = _cli("--rootpath", root, "collection", "build", "photos", "--captions",
                             EXAMPLE / "captions.csv", "--images", work / "my_photos", "--features",
                             work / "features" / "tiny_image", "--val", 10, "--test", 0)
    run = work / "runs" / "photos_en"
    out["train"] = _cli("--rootpath", root, "train", "w2vvpp", "--collection", "photos", "--size", "tiny",
                        "--epochs", 1, "--set", "batch_size=8", "--run-dir", run)
    out["index"] = _cli("--rootpath", root, "index", "build", run, "--collection", "photos", "--out",
                        work / "photos_index")
    out["search"] = _cli("--rootpath", root, "search", run, "--index", work / "photos_index", "-k", 3, "--json",
                         "an", "orange", "cat")
    return work, run, out


def test_walkthrough_runs_end_to_end(walked):
    work, run, out = walked
    assert "18 images x 432" in out["extract"]
    assert "72 captions (en, zh) of 18 items (train 8, val 10, test 0)" in out["collection"]
    assert (run / "best.keras").is_file() and "indexed 18 items" in out["index"]
    [line] = [json.loads(text) for text in out["search"].splitlines() if text.startswith("{")]
    assert len(line["results"]) == 3 and all(hit["captions"] for hit in line["results"])


@pytest.fixture(scope="module")
def server(walked):
    from w2vvx.serving import SearchService, make_server, start_in_thread

    work, run, _ = walked
    service = SearchService(run, work / "photos_index", images=work / "my_photos")
    httpd = make_server(service, host="127.0.0.1", port=0)
    start_in_thread(httpd)
    host, port = httpd.server_address[:2]
    yield f"http://{host}:{port}", service
    httpd.shutdown()
    httpd.server_close()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def _api(base, **params):
    status, kind, body = _get(f"{base}/api/search?{urllib.parse.urlencode(params)}")
    assert kind.startswith("application/json")
    return status, json.loads(body)


def test_json_search_matches_the_library_search(server):
    base, service = server
    query = "a black and white photo"  # words of the training captions (8 photos train, 10 validate)
    status, body = _api(base, q=query, k=4, language="en")
    assert status == 200 and [hit["rank"] for hit in body["results"]] == [1, 2, 3, 4]
    ids, scores = service.run.model.search([query], index=service.index.index, k=4, language="en")
    assert [hit["id"] for hit in body["results"]] == [str(i) for i in ids[0]]
    assert body["results"][0]["image"] == f"/images/{ids[0][0]}" and body["results"][0]["captions"]
    status, kind, image = _get(base + body["results"][0]["image"])
    assert status == 200 and kind == "image/jpeg" and image[:2] == b"\xff\xd8"
    assert [hit["score"] for hit in body["results"]] == [round(float(score), 4) for score in scores[0]]
    status, default = _api(base, q=query, k=2)  # no language: the run's own
    assert status == 200 and default["language"] == "en" and len(default["results"]) == 2
    status, info = _get(base + "/api/info")[::2]
    assert status == 200 and json.loads(info)["items"] == 18


@pytest.mark.parametrize("params, field, words", [
    ({"q": "  "}, "q", "empty"),
    ({"q": "a cat " * 100}, "q", "at most 300"),
    ({"q": "a cat", "k": "ten"}, "k", "whole number"),
    ({"q": "a cat", "k": "0"}, "k", "between 1 and 100"),
    ({"q": "a cat", "language": "zh"}, "language", "this model reads en, not 'zh'"),
    ({"q": "xqzv blorp"}, "q", "none of its words"),
    ({"k": "3"}, "q", "give the query"),
])
def test_bad_queries_get_clear_json_errors(server, params, field, words):
    base, _ = server
    status, body = _api(base, **params)
    assert status == 400 and body["field"] == field and words in body["error"]


def test_page_renders_results_and_refuses_unknown_paths(server):
    base, _ = server
    status, kind, page = _get(f"{base}/?q=a+red+rocket&k=3")
    text = page.decode("utf-8")
    assert status == 200 and kind.startswith("text/html") and text.count("class='card'") == 3
    assert "<img src='/images/" in text
    status, _, page = _get(f"{base}/?q=")
    assert status == 400 and "the query is empty" in page.decode("utf-8")
    assert _get(f"{base}/images/..%2F..%2Fetc%2Fpasswd")[0] == 404
    assert _get(f"{base}/nothing")[0] == 404


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent (apt-get install chromium) so the page "
                                                   "cannot be rendered headless")
def test_page_in_headless_chromium(server, tmp_path):
    base, _ = server
    shot = tmp_path / "search_page.png"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
               "--window-size=1000,640", f"--screenshot={shot}", f"{base}/?q=a+cat+on+a+table&k=6&language=en"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1000, 640)
        colours = image.convert("RGB").resize((50, 32)).getcolors(maxcolors=5000)
    assert colours is not None and len(colours) > 20  # thumbnails and text, not a blank page
    target = os.environ.get("W2VVX_SCREENSHOT_DIR")  # CI artefacts
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / shot.name)
