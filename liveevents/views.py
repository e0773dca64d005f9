"""The SSE endpoints, as Django views: /events/<stream>/ and /events/?stream=A&stream=B."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from django.http import HttpResponseBase, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from liveevents.access import Admission, Refusal, check_request
from liveevents.delivery import stream_body
from liveevents.pacer import pacer_of
from liveevents.responses import refusal_response, stream_headers

if TYPE_CHECKING:
    from django.core.handlers.asgi import ASGIRequest


@csrf_exempt  # GET only: other methods get 405 rather than a CSRF 403.
@require_GET
async def stream_view(request: ASGIRequest, stream: str) -> HttpResponseBase:
    """Serve `stream` as text/event-stream to readers its declaration allows."""
    return _respond(request, await check_request(request, stream))


@csrf_exempt
@require_GET
async def streams_view(request: ASGIRequest) -> HttpResponseBase:
    """Serve the streams named by `?stream=` over one connection, ids being cursors."""
    return _respond(request, await check_request(request, None))


def _respond(request: ASGIRequest, answer: Admission | Refusal) -> HttpResponseBase:
    if isinstance(answer, Refusal):
        return refusal_response(answer)
    response = _StreamingResponse(answer, stream_body(answer, pacer_of(request.scope)))
    for name, value in stream_headers(request):
        response[name] = value
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
