"""`hygiene serve`: argparse options and the runner, wired into hygiene_cli/main.py."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hygiene.config import ConfigError
from service.settings import ENV_PREFIX, is_loopback, load_settings

from .options import add_detector_options, detector_overrides

__all__ = ["add_serve_parser", "run_serve"]

_DESCRIPTION = f"""Run the REST API (POST /v1/score, /v1/uploads, /v1/jobs, GET /v1/jobs/ID/report, /metrics;
docs at /docs) and the web console at / (log in with the token when one is set).
Settings: --config TOML (a `hygiene clean` config plus a [service] table), then {ENV_PREFIX}* variables
({ENV_PREFIX}TOKEN, {ENV_PREFIX}DATA_ROOTS=dir1:dir2, {ENV_PREFIX}OUTPUT_ROOT, {ENV_PREFIX}PORT, ...), then flags.
Binding to a non-loopback address requires a bearer token (set {ENV_PREFIX}TOKEN; flags show in `ps`)."""


def add_serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="run the REST service and web console", description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="TOML: job defaults as for `clean --config`, plus [service]")
    p.add_argument("--host", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: 8000)")
    p.add_argument("--token", help=f"bearer token (prefer {ENV_PREFIX}TOKEN: arguments are visible to other users)")
    p.add_argument("--data-root", action="append", type=Path, dest="data_roots",
                   help="directory job inputs may come from (repeatable)")
    p.add_argument("--output-root", type=Path, help="job outputs and the job store (default: ./hygiene-jobs)")
    p.add_argument("--allowed-host", action="append", dest="allowed_hosts", metavar="NAME",
                   help="a Host header name to answer, '*' for any (repeatable; default: the loopback names on "
                        "loopback, any name otherwise)")
    p.add_argument("--max-batch", type=int, help="texts per model call when micro-batching (default: 32)")
    p.add_argument("--batch-wait-ms", type=float, help="how long a batch waits to fill (default: 5)")
    p.add_argument("--no-batching", action="store_true", help="one model call per request (for comparison)")
    add_detector_options(p, "detector (defaults for /v1/score and jobs)")
    det = p.add_argument_group("decision")
    det.add_argument("--threshold", type=float, help="decision threshold (default: the calibration's, or the "
                                                     "model directory's own)")
    det.add_argument("--calibration", type=Path, help="calibration JSON from `hygiene calibrate`")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app

    settings = load_settings(
        args.config,
        service={"host": args.host, "port": args.port, "token": args.token, "data_roots": args.data_roots,
                 "allowed_hosts": args.allowed_hosts,
                 "output_root": args.output_root, "max_batch": args.max_batch, "batch_wait_ms": args.batch_wait_ms,
                 "batching": False if args.no_batching else None},
        job={**detector_overrides(args), "threshold": args.threshold,
             "calibration": str(args.calibration) if args.calibration else None},
    )
    if settings.token is None and not is_loopback(settings.host):
        raise ConfigError(f"refusing to listen on {settings.host} without a bearer token: set {ENV_PREFIX}TOKEN "
                          "(at least 16 characters) or bind to 127.0.0.1")
    if settings.max_texts > settings.queue_size:
        raise ConfigError(f"max_texts ({settings.max_texts}) exceeds queue_size ({settings.queue_size})")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    where = ", ".join(str(r) for r in settings.data_roots) or "none (jobs by path disabled)"
    print(f"hygiene serve: http://{settings.host}:{settings.port} (data roots: {where}; "
          f"auth: {'bearer token' if settings.token else 'off, loopback only'})", file=sys.stderr)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level,
                timeout_graceful_shutdown=10, server_header=False)
    return 0

