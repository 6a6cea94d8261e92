"""The API's routers, one per resource; create_app includes them all."""

from . import jobs, ops, score, uploads

__all__ = ["jobs", "ops", "score", "uploads"]
