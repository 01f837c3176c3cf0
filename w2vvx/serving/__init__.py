"""A local search page over a trained run and a stored index (``w2vvx serve``)."""
from w2vvx.serving.server import make_server, render_page, start_in_thread
from w2vvx.serving.service import QueryError, SearchService

__all__ = ["QueryError", "SearchService", "make_server", "render_page", "start_in_thread"]
