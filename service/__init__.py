"""REST service over the hygiene pipeline (FastAPI): `hygiene serve`, or `create_app(settings)` in code.

`service` imports `hygiene` and `detectors`, never the reverse.
"""

from .app import create_app
from .settings import ServiceSettings, load_settings

__all__ = ["create_app", "ServiceSettings", "load_settings"]
