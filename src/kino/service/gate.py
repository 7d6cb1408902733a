"""The gate every API request with a body passes before the app reads it (pure ASGI middleware).

1. The API key is checked before a byte of the body is read: a request without a valid key costs
   the server one key lookup, not an upload (401).
2. The body is counted as it streams, ``Content-Length`` or chunked, and cut off at ``limit`` bytes
   (413): nothing past the limit is read.
3. A multipart body must end with its closing boundary: one cut off before it would otherwise be
   parsed as far as it goes, a file part silently dropped (400).

A fault found while streaming ends the body the app sees (``http.disconnect``) and the gate answers
in the app's place.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_METHODS = ("POST", "PUT", "PATCH")
TAIL = 4096  # bytes after the closing boundary that a multipart body may carry (its epilogue)


def error_response(status: int, code: str, message: str) -> list[Message]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return [{"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]},
            {"type": "http.response.body", "body": body}]


def multipart_boundary(content_type: str) -> bytes | None:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    return b""  # multipart without a boundary: no closing boundary can be found


class BodyGate:
    """``authenticate(key) -> bool`` (run in a thread) says whether a key may send a body."""

    def __init__(self, app: ASGIApp, limit: int, authenticate: Callable[[Scope, str], bool],
                 prefix: str = "/api/v1/"):
        self.app, self.limit, self.authenticate, self.prefix = app, limit, authenticate, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        from starlette.requests import Request

        from kino.service.app import ApiError, presented_key

        headers = Headers(scope=scope)
        try:
            key = presented_key(Request(scope))  # as the app reads it
        except ApiError as e:
            return await answer(send, e.status, e.code, e.message)
        if key is None:
            return await answer(send, 401, "unauthorized", "send an API key as 'Authorization: Bearer KEY'")
        if not await run_in_threadpool(self.authenticate, scope, key):
            return await answer(send, 401, "invalid_key", "this API key is unknown, revoked, or its user is disabled")
        length = headers.get("content-length", "")
        too_large = (f"the request has more than {self.limit} bytes; uploads are limited (see the API's "
                     "max_upload_bytes)")
        if length.isdigit() and int(length) > self.limit:
            return await answer(send, 413, "request_too_large", too_large)
        boundary = multipart_boundary(headers.get("content-type", ""))
        closing = b"--" + boundary + b"--" if boundary is not None else b""
        state = {"seen": 0, "tail": b"", "fault": None, "started": False}

        async def gated() -> Message:
            if state["fault"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                return message
            body = message.get("body", b"")
            state["seen"] += len(body)
            if state["seen"] > self.limit:
                state["fault"] = (413, "request_too_large", too_large)
                return {"type": "http.disconnect"}
            if boundary is not None:
                state["tail"] = (state["tail"] + body)[-(len(closing) + TAIL):]
                if not message.get("more_body", False) and (not boundary or closing not in state["tail"]):
                    state["fault"] = (400, "malformed_multipart", "the multipart body ends before its closing "
                                      "boundary (cut off?); send the whole form")
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if state["fault"] and not state["started"]:
                return  # the app's answer to a body it never got whole: the gate answers instead
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, gated, guarded)
        except Exception:
            if not state["fault"]:
                raise
        if state["fault"] and not state["started"]:
            await answer(send, *state["fault"])


async def answer(send: Send, status: int, code: str, message: str) -> None:
    for m in error_response(status, code, message):
        await send(m)
