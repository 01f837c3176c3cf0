"""A small local web server over :class:`~w2vvx.serving.service.SearchService` (standard library only).

Routes:

* ``GET /`` (``?q=...&k=...&language=...``): the search page, results rendered on the server (no script).
* ``GET /api/search?q=...&k=...&language=...``: JSON ``{"query", "language", "k", "results": [...]}``; a bad
  query gets status 400 and ``{"error": message, "field": "q"|"k"|"language"}``.
* ``GET /api/info``: the run, its languages, the index size.
* ``GET /images/<id>``: a JPEG thumbnail of an item (only ids of the image folder; never a path).

Bound to ``127.0.0.1`` by default: the page is for the user's own machine.
"""
from __future__ import annotations

import html
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

from w2vvx.errors import QueryError
from w2vvx.serving.service import QueryError as ServiceQueryError, SearchService

logger = logging.getLogger(__name__)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}
header{background:#24344d;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;font-size:13px;opacity:.8}
form{padding:16px 24px;display:flex;gap:8px;flex-wrap:wrap;align-items:center}
input[name=q]{flex:1;min-width:260px;padding:8px;font-size:16px}select,input[name=k],button{padding:8px;font-size:15px}
.error{margin:0 24px;padding:10px;background:#fde2e1;border:1px solid #e99;border-radius:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:14px;padding:8px 24px 24px}
.card{background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.15);overflow:hidden}
.card img{width:100%;height:150px;object-fit:cover;display:block;background:#ddd}
.card .meta{padding:8px 10px;font-size:13px}.card .id{font-weight:600}.card .score{float:right;color:#555}
.card ul{margin:6px 0 0;padding-left:16px;color:#444}
"""


def render_page(service: SearchService, query: str = "", k="8", language: str = "", outcome=None,
                error: Optional[str] = None) -> str:
    """The HTML of the search page (with results or an error when a query was given)."""
    info = service.info()
    esc = html.escape
    options = "".join(f'<option value="{esc(code)}"{" selected" if code == (language or info["default_language"]) else ""}>'
                      f"{esc(code)}</option>" for code in info["languages"])
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>w2vvx search</title><style>{_STYLE}</style>"
             "</head><body><header><h1>w2vvx search</h1>"
             f"<p>run {esc(info['run'])} · {info['items']} items · languages {esc(', '.join(info['languages']))}</p>"
             "</header><form method='get' action='/'>"
             f"<input name='q' value='{esc(query)}' placeholder='describe an image, e.g. a cat on a sofa' autofocus>"
             f"<select name='language'>{options}</select>"
             f"<input name='k' type='number' min='1' max='{info['max_k']}' value='{esc(str(k))}' style='width:70px'>"
             "<button type='submit'>Search</button></form>"]
    if error:
        parts.append(f"<p class='error'>{esc(error)}</p>")
    if outcome:
        parts.append("<div class='grid'>")
        for hit in outcome["results"]:
            image = (f"<img src='{esc(hit['image'])}' alt='{esc(hit['id'])}'>" if hit["image"] else "")
            captions = "".join(f"<li>{esc(text)}</li>" for text in hit["captions"][:3])
            parts.append(f"<div class='card'>{image}<div class='meta'><span class='id'>{hit['rank']}. "
                         f"{esc(hit['id'])}</span><span class='score'>{hit['score']:.3f}</span>"
                         f"<ul>{captions}</ul></div></div>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)


def request_target(raw: str) -> str:
    """The request path as text: ``http.server`` decodes the request line as Latin-1, so raw UTF-8 bytes
    (``curl 'http://.../api/search?q=一只猫'`` sends them unescaped) are turned back into UTF-8 here.

    Example:
        >>> request_target("/api/search?q=" + "一只猫".encode("utf-8").decode("latin-1"))
        '/api/search?q=一只猫'
    """
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _first(params: dict, name: str, default: str = "") -> str:
    values = params.get(name)
    return values[0] if values else default


class SearchHandler(BaseHTTPRequestHandler):
    """Request handler; the server holds the :class:`SearchService` as ``server.service``."""

    server_version = "w2vvx"

    def log_message(self, format, *args):  # noqa: A002  (BaseHTTPRequestHandler's signature)
        logger.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def do_GET(self):  # noqa: N802  (http.server's name)
        service: SearchService = self.server.service
        url = urlsplit(request_target(self.path))
        params = parse_qs(url.query, keep_blank_values=True)
        try:
            if url.path == "/api/search":
                if "q" not in params:
                    raise ServiceQueryError("give the query as ?q=... (and optionally &k=10&language=en)", "q")
                outcome = service.search(_first(params, "q"), _first(params, "k", "10"), _first(params, "language"))
                self._json(200, outcome)
            elif url.path == "/api/info":
                self._json(200, service.info())
            elif url.path in ("/", "/index.html"):
                query, k, language = _first(params, "q"), _first(params, "k", "8"), _first(params, "language")
                outcome, error = None, None
                if query.strip() or "q" in params:
                    try:
                        outcome = service.search(query, k, language)
                    except QueryError as problem:
                        error = str(problem)
                status = 400 if error else 200
                self._send(status, render_page(service, query, k, language, outcome, error).encode("utf-8"),
                           "text/html; charset=utf-8")
            elif url.path.startswith("/images/"):
                data = service.thumbnail(unquote(url.path[len("/images/"):]))
                if data is None:
                    self._json(404, {"error": "no image of that item id"})
                else:
                    self._send(200, data, "image/jpeg")
            else:
                self._json(404, {"error": f"no such page {url.path!r}; the pages are /, /api/search, /api/info"})
        except QueryError as problem:
            self._json(400, {"error": str(problem), "field": getattr(problem, "field", "q")})
        except Exception as problem:  # one failing request never stops the server
            logger.exception("request %s failed", self.path)
            self._json(500, {"error": f"{type(problem).__name__}: {problem}"})


def make_server(service: SearchService, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A :class:`ThreadingHTTPServer` serving ``service`` (``port=0``: any free port, see ``server_address``)."""
    server = ThreadingHTTPServer((host, port), SearchHandler)
    server.daemon_threads = True
    server.service = service
    return server


def start_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Serve in a daemon thread (notebooks, tests); stop with ``server.shutdown(); server.server_close()``."""
    thread = threading.Thread(target=server.serve_forever, name="w2vvx-serve", daemon=True)
    thread.start()
    return thread
