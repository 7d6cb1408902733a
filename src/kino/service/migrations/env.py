"""Alembic environment: migrations run on the connection that ``kino.service.db.migrate`` passes in."""

from alembic import context

from kino.service.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
