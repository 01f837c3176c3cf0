"""``w2vvx serve``: a local search page over a trained run and its index."""
from __future__ import annotations

import click


@click.command("serve")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--index", "index_dir", type=click.Path(exists=True, file_okay=False), required=True,
              help="An index of this run (w2vvx index build).")
@click.option("--images", type=click.Path(exists=True, file_okay=False), default=None,
              help="The image folder, to show thumbnails (files named by item id).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default serves this machine only.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True,
              help="Port (0: any free one).")
def command(run_dir, index_dir, images, host, port):
    """Serve a search page for RUN_DIR's model over --index at http://HOST:PORT/ (Ctrl-C stops it).

    JSON: /api/search?q=...&k=10&language=en; bad queries get status 400 and {"error", "field"}.
    """
    from w2vvx.serving import SearchService, make_server

    service = SearchService(run_dir, index_dir, images=images)
    server = make_server(service, host=host, port=port)
    shown_host, shown_port = server.server_address[:2]
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: other machines can reach this page", err=True)
    click.echo(f"serving {service.size} items of {index_dir} in {', '.join(service.languages)} at "
               f"http://{shown_host}:{shown_port}/  (Ctrl-C stops)", err=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
