"""REST service over the hygiene pipeline (FastAPI): `hygiene serve`, or `create_app(settings)` in code.

`service` imports `hygiene` and `detectors`, never the reverse. Names are loaded on first use, so that
importing `service.settings` (the CLI does, to build its parser) does not import FastAPI.
"""

from importlib import import_module

__all__ = ["create_app", "ServiceSettings", "load_settings"]
_HOME = {"create_app": ".app", "ServiceSettings": ".settings", "load_settings": ".settings"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(_HOME[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
