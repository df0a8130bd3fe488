"""Serving: the REST model server (ASGI), request validation, hot swap, batch prediction."""
