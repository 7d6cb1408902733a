"""kino as a service: REST API, web page, job queue, accounts with staged access, audit log.

``create_app(settings)`` (app.py) builds the FastAPI app; ``kino serve`` runs it with an in-process
worker over SQLite, or, in production, PostgreSQL by URL with ``kino worker`` processes fed by Redis.
"""
