"""``kino serve``, ``kino worker`` and ``kino users``.

Settings come from flags, then KINO_* variables, then a TOML file; they are read here, once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from kino.service.settings import ROLES, Settings

ENV = {"db": "KINO_DB_URL", "redis": "KINO_REDIS_URL", "data_dir": "KINO_DATA_DIR", "config": "KINO_CONFIG",
       "voices": "KINO_VOICES"}


def add_arguments(p: argparse.ArgumentParser, default_model: Path) -> None:
    p.add_argument("--model", default=None, help=f"model folder served as 'default' (default: {default_model.name})")
    p.add_argument("--db", default=None, help="database URL, sqlite:///PATH or postgresql://... ($KINO_DB_URL)")
    p.add_argument("--redis", default=None, help="Redis URL; jobs then go to `kino worker` processes ($KINO_REDIS_URL)")
    p.add_argument("--data-dir", default=None, help="uploads and outputs, shared by all workers ($KINO_DATA_DIR)")
    p.add_argument("--config", default=None, help="TOML settings file: role policies, limits ($KINO_CONFIG)")
    p.add_argument("--voices", default=None, help="folder of Piper voices for narration, as `kino voices` reads it "
                   "($KINO_VOICES; espeak-ng's voices are always there)")


def dtype_argument(p: argparse.ArgumentParser) -> None:
    from kino.precision import CHOICES

    p.add_argument("--dtype", default=None, choices=CHOICES,
                   help="workers' compute dtype ($KINO_DTYPE; default auto: bf16 where the hardware runs it natively)")


def settings_from(args, default_model: Path, usage_error, check_model: bool = True) -> Settings:
    """Flags over environment over file over defaults; a bad value is a usage error naming it."""
    pick = {k: getattr(args, k, None) or os.environ.get(v) for k, v in ENV.items()}
    data_dir = Path(pick["data_dir"] or "kino-service")
    model = getattr(args, "model", None) or str(default_model)
    if check_model:
        from kino.models.folder import ModelFolderError, load_config

        try:
            load_config(model)
        except ModelFolderError as e:
            raise usage_error(str(e)) from e
    from kino import precision

    dtype = None
    if hasattr(args, "dtype"):  # serve and worker: --dtype, else $KINO_DTYPE, else auto, checked before any job
        try:
            dtype = precision.parse(args.dtype)
        except precision.DtypeError as e:
            raise usage_error(f"{precision.ENV}: {e}") from e
    overrides = dict(db_url=pick["db"] or f"sqlite:///{data_dir / 'kino.db'}", data_dir=data_dir,
                     redis_url=pick["redis"], models={"default": model}, dtype=dtype,
                     voices_dir=Path(pick["voices"]) if pick["voices"] else None)
    if pick["db"] and not pick["db"].startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
        raise usage_error(f"--db {pick['db']!r}: use sqlite:///PATH or postgresql://USER:PASS@HOST/DB")
    if pick["redis"] and not pick["redis"].startswith(("redis://", "rediss://", "unix://")):
        raise usage_error(f"--redis {pick['redis']!r}: use redis://HOST:PORT/DB")
    if pick["config"]:
        try:
            return Settings.from_toml(pick["config"], **overrides)
        except (OSError, ValueError) as e:
            raise usage_error(f"--config {pick['config']}: {e}") from e
    return Settings(**overrides)


def check_db(settings: Settings, usage_error):
    """The migrated engine, or a usage error naming the URL that could not be reached."""
    from sqlalchemy.exc import OperationalError

    from kino.service.db import make_engine, migrate

    try:
        engine = make_engine(settings.db_url)
        migrate(engine)
    except (OperationalError, ModuleNotFoundError) as e:
        raise usage_error(f"cannot open database {settings.db_url}: {str(e).splitlines()[0]}") from e
    return engine


def cmd_serve(args, default_model: Path, usage_error) -> int:
    import uvicorn

    from kino.service.app import create_app

    settings = settings_from(args, default_model, usage_error)
    if not 0 < args.port < 65536:
        raise usage_error(f"--port {args.port} is not a port (1-65535)")
    check_db(settings, usage_error).dispose()
    print(f"kino serve: http://{args.host}:{args.port}/ (API docs at /docs); database {settings.db_url}; "
          f"{'Redis queue ' + settings.redis_url if settings.redis_url else 'in-process worker'}", file=sys.stderr)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_worker(args, default_model: Path, usage_error) -> int:
    from kino.service.db import session_factory
    from kino.service.models import Pipelines
    from kino.service.worker import run_worker

    settings = settings_from(args, default_model, usage_error)
    engine = check_db(settings, usage_error)
    if settings.redis_url:
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            Redis.from_url(settings.redis_url).ping()
        except RedisError as e:
            raise usage_error(f"cannot reach Redis at {settings.redis_url}: {e}") from e
    logging.getLogger("kino").setLevel(logging.INFO)
    run_worker(settings, session_factory(engine), Pipelines(settings.models, settings.torch_threads, settings.dtype),
               burst=args.burst)
    return 0


def cmd_users(args, default_model: Path, usage_error) -> int:
    from sqlalchemy import select

    from kino.service.auth import AccountError, add_key, add_user, audit
    from kino.service.db import User, session_factory

    if args.action != "list" and not args.name:
        raise usage_error(f"kino users {args.action} needs a NAME")
    settings = settings_from(args, default_model, usage_error, check_model=False)  # accounts need no model
    sessions = session_factory(check_db(settings, usage_error))
    if args.action == "add":
        try:
            with sessions.begin() as db:
                user, key = add_user(db, args.name, args.role)
                audit(db, "admin.user_add", None, target=args.name, role=args.role, via="cli")
        except AccountError as e:
            raise usage_error(str(e)) from e
        print(key)  # the only time the key is readable; stdout so scripts can capture it
        print(f"user {user.name} ({user.role}) added; keep this key, kino stores only its hash", file=sys.stderr)
    elif args.action == "key":
        with sessions.begin() as db:
            user = db.scalar(select(User).where(User.name == args.name))
            if user is None:
                raise usage_error(f"no user {args.name!r}")
            key = add_key(db, user)
            audit(db, "admin.key_add", None, target=args.name, via="cli")
        print(key)
    else:
        with sessions() as db:
            for u in db.scalars(select(User).order_by(User.id)).all():
                print("\t".join([str(u.id), u.name, u.role] + (["disabled"] if u.disabled else [])))
    return 0


def register(sub, default_model: Path, usage_error) -> None:
    """Add serve, worker and users to the ``kino`` parser."""
    s = sub.add_parser("serve", help="run the web API, web page and (without --redis) a worker")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    add_arguments(s, default_model)
    dtype_argument(s)
    s.set_defaults(func=lambda a: cmd_serve(a, default_model, usage_error))

    w = sub.add_parser("worker", help="run jobs from the queue (Redis with --redis, else by polling the database)")
    add_arguments(w, default_model)
    dtype_argument(w)
    w.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    w.set_defaults(func=lambda a: cmd_worker(a, default_model, usage_error))

    u = sub.add_parser("users", help="manage service accounts: add NAME --role R (prints the key once), key, list")
    u.add_argument("action", choices=("add", "key", "list"))
    u.add_argument("name", nargs="?", default=None)
    u.add_argument("--role", default="public", help=f"one of {', '.join(ROLES)} (default public)")
    add_arguments(u, default_model)
    u.set_defaults(func=lambda a: cmd_users(a, default_model, usage_error))
