"""The SSE endpoints, as Django views: /events/<stream>/ and /events/?stream=A&stream=B; and the
metrics endpoint, which a project routes itself."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncGenerator

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from liveevents.access import Admission, Refusal, check_request
from liveevents.conf import get_config
from liveevents.delivery import stream_body
from liveevents.metrics import exposition
from liveevents.pacer import pacer_of
from liveevents.responses import refusal_response, stream_headers
from liveevents.servers import how_to_serve_asgi

logger = logging.getLogger(__name__)


@csrf_exempt  # GET only: other methods get 405 rather than a CSRF 403.
@require_GET
async def stream_view(request: HttpRequest, stream: str) -> HttpResponseBase:
    """Serve `stream` as text/event-stream to readers its declaration allows."""
    if not isinstance(request, ASGIRequest):
        return _needs_asgi(request)
    return _respond(request, await check_request(request, stream))


@csrf_exempt
@require_GET
async def streams_view(request: HttpRequest) -> HttpResponseBase:
    """Serve the streams named by `?stream=` over one connection, ids being cursors."""
    if not isinstance(request, ASGIRequest):
        return _needs_asgi(request)
    return _respond(request, await check_request(request, None))


def _respond(request: ASGIRequest, answer: Admission | Refusal) -> HttpResponseBase:
    if isinstance(answer, Refusal):
        return refusal_response(answer)
    response = _StreamingResponse(answer, stream_body(answer, pacer_of(request.scope)))
    for name, value in stream_headers(request):
        response[name] = value
    # A compressing middleware (GZipMiddleware) reads the request's Accept-Encoding when the
    # response passes it. A stream is never compressed (a compressor or a proxy may hold events
    # back to fill a block), so this request takes no encoding: unlike a Content-Encoding header
    # on the response, which would keep GZipMiddleware away too, nothing is sent.
    request.META["HTTP_ACCEPT_ENCODING"] = "identity"
    return response


def _needs_asgi(request: HttpRequest) -> HttpResponse:
    # A 500, not a 503: the server is set up wrong and stays so, where a 503 would tell clients
    # and proxies that waiting helps. Under WSGI a stream could not run: its body would be read
    # to the end before a byte is sent, and it never ends.
    response = refusal_response(
        Refusal(
            500,
            "Streams need an ASGI server; this one serves WSGI. " + how_to_serve_asgi(),
        )
    )
    # One record per request, saying what to do; Django's "Internal Server Error" line for the
    # same response would only repeat it, so this one marks the response as logged.
    log_response(
        "Stream %s answered 500: streams need an ASGI server, and this request came through WSGI. %s",
        request.path,
        how_to_serve_asgi(),
        response=response,
        request=request,
        logger=logger,
    )
    return response


class _StreamingResponse(StreamingHttpResponse):
    """A stream response that gives its connection slot back when Django closes it, also when
    its body never ran (the client left before the first byte)."""

    def __init__(self, admission: Admission, body: AsyncGenerator[bytes]) -> None:
        super().__init__(body)
        self._admission = admission

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._admission.slot.release()


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """liveevents' Prometheus metrics, for active staff users and for scrapers that send
    LIVEEVENTS["METRICS_TOKEN"] as `Authorization: Bearer <token>`; 403 for anyone else, 404 when
    metrics are off. Not in liveevents.urls: a project routes it where it wants it, e.g.
    `path("metrics/", liveevents.views.metrics_view)`."""
    if not _may_read_metrics(request):
        return refusal_response(
            Refusal(403, "Metrics are for staff users, and for a bearer token equal to METRICS_TOKEN.")
        )
    exposed = exposition(request.headers.get("Accept"))
    if exposed is None:
        return refusal_response(
            Refusal(
                404,
                "Metrics are off: install prometheus_client (pip install 'liveevents[metrics]') and "
                "leave LIVEEVENTS['METRICS'] unset or True.",
            )
        )
    body, content_type = exposed
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


def _may_read_metrics(request: HttpRequest) -> bool:
    token = get_config()["METRICS_TOKEN"]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Compared in constant time: how much of a guess was right must not show in the timing.
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    user = getattr(request, "user", None)  # absent without AuthenticationMiddleware
    return bool(user is not None and user.is_active and user.is_staff)
