"""Request size limits, enforced before a handler reads the body.

:class:`BodyLimitMiddleware` (pure ASGI) answers 413 at once when ``Content-Length`` is over
the limit, and counts the bytes of bodies sent without one (chunked), raising
:class:`RequestTooLarge` as soon as they pass it: a client cannot make the server buffer more
than the limit either way. Multipart requests (an audio upload) get their own, larger limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

__all__ = ["BodyLimitMiddleware", "RequestTooLarge", "too_large_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestTooLarge(Exception):
    """A request body passed its size limit while it was being read."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(f"request body is over the {limit:,} byte limit ({setting})")
        self.limit = limit
        self.setting = setting


def too_large_body(error: RequestTooLarge) -> bytes:
    """The JSON body of a 413 answer (the same shape as every other error)."""
    detail = [{"loc": ["body"], "msg": str(error), "type": "too_large"}]
    return orjson.dumps({"detail": detail})


class BodyLimitMiddleware:
    """413 for request bodies over ``max_body`` (``max_upload`` for multipart requests)."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    def _limit(self, scope: Scope) -> RequestTooLarge:
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").lower()
        if content_type.startswith(b"multipart/"):
            return RequestTooLarge(self.max_upload, "HITPRED_SERVE_MAX_UPLOAD_BYTES")
        return RequestTooLarge(self.max_body, "HITPRED_SERVE_MAX_BODY_BYTES")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._limit(scope)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > refusal.limit:
            await _answer_413(send, refusal)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > refusal.limit:
                    raise refusal
            return message

        await self.app(scope, counted, send)


async def _answer_413(send: Send, error: RequestTooLarge) -> None:
    body = too_large_body(error)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
