"""``create_app(settings)``: the FastAPI app, its error format, and the injected dependencies."""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from kino.service.auth import lookup
from kino.service.db import ApiKey, User, make_engine, migrate, session_factory
from kino.service.gate import BodyGate
from kino.service.jobs import Runner
from kino.service.models import Pipelines
from kino.service.settings import Settings
from kino.service.worker import EmbeddedWorker, Maintenance, Notifier

log = logging.getLogger(__name__)
WEB = Path(__file__).parent / "web"


class ApiError(Exception):
    """An error answer: HTTP status, a machine-readable ``code``, a sentence, and optional extra fields."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass
class Service:
    settings: Settings
    engine: Engine
    sessions: sessionmaker
    pipelines: Pipelines
    notifier: Notifier
    threads: list = field(default_factory=list)


@dataclass
class Caller:
    user: User
    key: ApiKey


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def service(request: Request) -> Service:
    return request.app.state.service


bearer = HTTPBearer(auto_error=False, description="an API key from `kino users add` or an admin")


# The web page's session: after /login the key travels in this cookie, which page scripts cannot read
# (HttpOnly) and other sites cannot send (SameSite=Strict); a request it authenticates that changes
# something must also carry PAGE_HEADER, which a cross-site form cannot set.
SESSION_COOKIE = "kino_session"
PAGE_HEADER = "x-kino-page"


def presented_key(request: Request) -> str | None:
    """The key a request presents: the Authorization header (Bearer), X-API-Key, or the page's
    session cookie (with ``PAGE_HEADER`` on a request that changes something, or a 403)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"]
    key = request.cookies.get(SESSION_COOKIE)
    if key and request.method not in ("GET", "HEAD") and PAGE_HEADER not in request.headers:
        raise ApiError(403, "missing_page_header", f"a session cookie must come with the {PAGE_HEADER} header")
    return key


def caller(request: Request, _: HTTPAuthorizationCredentials | None = Depends(bearer),  # names the scheme in the docs
           svc: Service = Depends(service)) -> Caller:
    key = presented_key(request)
    if not key:
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer KEY'")
    with svc.sessions() as db:
        found = lookup(db, key)
    if found is None:
        raise ApiError(401, "invalid_key", "this API key is unknown, revoked, or its user is disabled")
    return Caller(*found)


def admin(who: Caller = Depends(caller)) -> Caller:
    if who.user.role != "admin":
        raise ApiError(403, "admin_only", "this needs the admin role")
    return who


def preload(pipelines: Pipelines, weights: bool, ready: threading.Event) -> None:
    """Every model ready before the first request: loaded where this process runs jobs (``weights``),
    else what the API checks requests against (open models described by their configs, no weights).
    ``ready`` is set at the end, loaded or not."""
    try:
        for name in pipelines.names():
            try:
                pipelines.get(name) if weights else pipelines.checker(name)
            except Exception:  # a request for this model will report it
                log.exception("model %s did not load", name)
    finally:
        ready.set()


# Sent with every response: no other origin may frame the page (its login form), browsers take
# each file as the type it is sent as, and no address leaks to other sites.
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cross-Origin-Opener-Policy": "same-origin",
                    "Permissions-Policy": "camera=(), microphone=(), geolocation=()"}
# The page and the API: scripts and styles from kino's own files only (no inline script), videos
# as blobs fetched with the key.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# FastAPI's interactive docs load Swagger UI and ReDoc from their CDN and start them inline.
DOCS_PATHS = ("/docs", "/redoc")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
            "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def create_app(settings: Settings, pipelines: Pipelines | None = None) -> FastAPI:
    """The app; its lifespan migrates the database and starts the embedded worker (without Redis).

    ``pipelines`` lets several apps in one process (tests) share loaded models.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings.db_url)
        migrate(engine)
        pipes = pipelines or Pipelines(settings.models, settings.torch_threads, settings.dtype)
        svc = Service(settings, engine, session_factory(engine), pipes, Notifier(settings))
        app.state.service = svc
        maintenance = Maintenance(settings, svc.sessions, svc.notifier)
        svc.threads.append(maintenance)
        runs_jobs = settings.embedded_worker and not settings.redis_url
        ready = threading.Event()
        if runs_jobs:
            svc.threads.append(EmbeddedWorker(Runner(settings, svc.sessions, svc.pipelines), svc.notifier, ready))
        # Load the models in the background: requests need not wait for them; jobs wait (``ready``).
        loading = threading.Thread(target=preload, args=(pipes, runs_jobs, ready), daemon=True)
        loading.start()
        for t in svc.threads:
            t.start()
        try:
            yield
        finally:
            for t in svc.threads:
                t.stop.set()
                if isinstance(t, EmbeddedWorker):
                    t.runner.stopping.set()  # a job in progress goes back to the queue, not lost to a lease
            svc.notifier.wake.set()
            for t in svc.threads:
                t.join(timeout=30)
            loading.join(timeout=60)  # a load still going would change torch's default dtype under what comes next
            engine.dispose()

    app = FastAPI(title="kino", version="1", lifespan=lifespan,
                  description="Text-to-video as a service: jobs, accounts with staged access, audit log.")

    def may_send(scope, key: str) -> bool:
        with scope["app"].state.service.sessions() as db:
            return lookup(db, key) is not None

    # Three uploads fit, with room for the form fields.
    app.add_middleware(BodyGate, limit=3 * settings.max_upload_bytes + 2**20, authenticate=may_send)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):
        response = await call_next(request)
        strict = not request.url.path.startswith(DOCS_PATHS)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Content-Security-Policy"] = PAGE_CSP if strict else DOCS_CSP
        return response

    @app.exception_handler(ApiError)
    async def _api_error(_req, e: ApiError):
        headers = {"Retry-After": str(e.extra["retry_after"])} if "retry_after" in e.extra else None
        return JSONResponse(error_body(e.code, e.message, **e.extra), status_code=e.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req, e: RequestValidationError):
        fields = [{"field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]), "problem": err["msg"]}
                  for err in e.errors()]
        message = "; ".join(f"{f['field']}: {f['problem']}" for f in fields)
        return JSONResponse(error_body("invalid_field", message, fields=fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req, e: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        return JSONResponse(error_body(codes.get(e.status_code, f"http_{e.status_code}"), str(e.detail)),
                            status_code=e.status_code, headers=getattr(e, "headers", None))

    from kino.service import api

    app.include_router(api.router, prefix="/api/v1")
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(WEB / "index.html", media_type="text/html")

    return app
