"""The site as a plain WSGI process: `python -m tests.flightboard.multiprocess.wsgi_server PORT`.

Django's WSGI handler served by wsgiref (single-threaded, no event loop of its own): its writes
reach the streams of the daphne processes only through the channel layer and the log.
"""

from __future__ import annotations

import os
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flightboard.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write("wsgi: " + (format % args) + "\n")


def main() -> None:
    application = get_wsgi_application()
    server = make_server("127.0.0.1", int(sys.argv[1]), application, handler_class=QuietHandler)
    print(f"WSGI server on 127.0.0.1:{sys.argv[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
