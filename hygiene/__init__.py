"""corpus-hygiene core: shard I/O, the cleaning pipeline, reports and the `hygiene` command."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("corpus-hygiene")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
