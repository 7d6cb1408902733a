"""Accounts and API keys. A key is shown once; the database keeps only its sha256.

Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed):
guessing a key is as hard as guessing the token, and lookups stay one indexed query.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from kino.service.db import ApiKey, AuditEvent, User
from kino.service.settings import ROLES

KEY_PREFIX = "kino_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class AccountError(ValueError):
    """A bad account request; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError("invalid_role", f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def add_user(db: Session, name: str, role: str) -> tuple[User, str]:
    """Create a user with one API key; returns the user and the key (the only time it is readable)."""
    check_role(role)
    if not NAME_RE.fullmatch(name or ""):
        raise AccountError("invalid_name",
                           "a user name is 1-64 letters, digits or _.@- and starts with a letter or digit")
    if db.scalar(select(User).where(User.name == name)):
        raise AccountError("user_exists", f"user {name!r} already exists")
    user = User(name=name, role=role, disabled=False)
    db.add(user)
    db.flush()
    return user, add_key(db, user)


def add_key(db: Session, user: User) -> str:
    key = new_key()
    db.add(ApiKey(user_id=user.id, key_hash=hash_key(key), prefix=key[:9], revoked=False))
    db.flush()
    return key


def lookup(db: Session, key: str) -> tuple[User, ApiKey] | None:
    """The active user and key for a presented key, or None."""
    row = db.execute(
        select(User, ApiKey).join(ApiKey, ApiKey.user_id == User.id).where(ApiKey.key_hash == hash_key(key))
    ).first()
    if row is None or row.User.disabled or row.ApiKey.revoked:
        return None
    return row.User, row.ApiKey


def audit(db: Session, action: str, user: User | None = None, target: str | None = None, **detail) -> None:
    """Append one audit event to the session (committed with the caller's transaction)."""
    db.add(AuditEvent(action=action, user_id=user.id if user else None, actor=user.name if user else None,
                      target=target, detail=detail))
