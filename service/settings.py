"""Service settings: one TOML file shared with the CLI, then HYGIENE_* environment variables, then flags.

The file is a `hygiene clean --config` file (job defaults: detector, threshold, dedup) plus a
`[service]` table for the server itself, so a job submitted over REST and a CLI run read the same
settings. Later sources override earlier ones: file < environment < flags.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hygiene.config import CleanConfig, ConfigError, load_config, read_toml

__all__ = ["ServiceSettings", "load_settings", "is_loopback", "ENV_PREFIX", "REDIS_URL_ENV"]

ENV_PREFIX = "HYGIENE_"
REDIS_URL_ENV = "HYGIENE_REDIS_URL"  # the shared dedup index of every job (dedup.index), unless a job says otherwise
# Job defaults from the environment: the shared index, and where jobs run (engine = local | ray, the Ray cluster).
_JOB_ENV = {"dedup.index": REDIS_URL_ENV, "engine": "HYGIENE_ENGINE", "ray_address": "HYGIENE_RAY_ADDRESS"}
# Environment variables read, by service field; lists are os.pathsep-separated (data_roots) or comma-separated.
_ENV_FIELDS = ("host", "port", "token", "data_roots", "output_root", "db_path", "max_body_bytes", "max_texts",
               "max_chars", "max_shard_bytes", "uploads_dir", "queue_size", "max_batch", "batch_wait_ms", "batching",
               "allowed_hosts", "max_auth_failures")
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ServiceSettings(BaseModel):
    """Everything `hygiene serve` needs; `job` holds the defaults every job and /v1/score start from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: str | None = Field(None, min_length=16, description="bearer token; required off loopback")
    allowed_hosts: tuple[str, ...] = Field((), description=(
        "Host header names served ('*': any); default: the loopback names when bound to loopback (a page whose "
        "name was rebound to 127.0.0.1 is refused), any name otherwise (a token is required there)"))
    data_roots: tuple[Path, ...] = Field((), description="directories job inputs may be read from")
    output_root: Path = Field(Path("hygiene-jobs"), description="job outputs go to OUTPUT_ROOT/<job id>/")
    db_path: Path | None = Field(None, description="SQLite job store; default OUTPUT_ROOT/jobs.sqlite3")
    uploads_dir: Path | None = Field(None, description="uploaded shards; default OUTPUT_ROOT/uploads")
    max_body_bytes: int = Field(2 << 20, ge=1024, le=1 << 40, description="largest request body accepted")
    max_texts: int = Field(256, ge=1, le=1 << 20, description="texts per /v1/score request")
    max_chars: int = Field(100_000, ge=1, le=1 << 30, description="characters per text")
    max_shard_bytes: int = Field(8 << 30, ge=1, le=1 << 50, description="largest input shard file a job may read or "
                                                                         "upload")
    queue_size: int = Field(1024, ge=1, le=1 << 24, description="texts waiting for the model before requests get 429")
    max_batch: int = Field(32, ge=1, le=4096, description="texts per model call when micro-batching")
    batch_wait_ms: float = Field(5.0, ge=0, le=1000, description="how long a batch waits to fill up")
    batching: bool = Field(True, description="merge concurrent /v1/score requests into one model call")
    max_auth_failures: int = Field(10, ge=1, le=1 << 20, description=(
        "wrong tokens one client address may send in a minute; then it is refused (429) until the minute passes"))
    job: CleanConfig = CleanConfig()

    @field_validator("token")
    @classmethod
    def _token_as_sent(cls, token: str | None) -> str | None:
        # a presented token is stripped, so one with surrounding spaces could never match; a blank one guards nothing
        if token is not None and (not token.strip() or token != token.strip()):
            raise ValueError("the token is blank or starts or ends with whitespace (check HYGIENE_TOKEN for a "
                             "trailing space or newline)")
        return token

    @property
    def store_path(self) -> Path:
        return self.db_path or self.output_root / "jobs.sqlite3"

    @property
    def uploads_path(self) -> Path:
        return self.uploads_dir or self.output_root / "uploads"

    @property
    def host_names(self) -> frozenset[str] | None:
        """Host header names served (lower case, no port); None: any."""
        if "*" in self.allowed_hosts or (not self.allowed_hosts and not is_loopback(self.host)):
            return None
        names = self.allowed_hosts or (*_LOOPBACK_NAMES, self.host)
        return frozenset(n.lower().strip("[]").rstrip(".") for n in names)

    @property
    def input_roots(self) -> tuple[Path, ...]:
        """Where job inputs may come from: the data roots, then the uploads (an implicit root)."""
        return (*self.data_roots, self.uploads_path)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in _ENV_FIELDS:
        value = env.get(ENV_PREFIX + name.upper())
        if value is None or value == "":
            continue
        if name == "data_roots":
            found[name] = [part for part in value.split(os.pathsep) if part]
        elif name == "allowed_hosts":
            found[name] = [part.strip() for part in value.split(",") if part.strip()]
        elif name == "batching":
            found[name] = value.strip().lower() not in ("0", "false", "no", "off")
        else:
            found[name] = value  # pydantic converts numbers
    return found


def _job_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Job defaults from the environment: HYGIENE_REDIS_URL is every job's dedup index (compose.yaml sets it),
    HYGIENE_ENGINE and HYGIENE_RAY_ADDRESS where jobs run."""
    found = {key: env.get(name, "").strip() for key, name in _JOB_ENV.items()}
    return {key: value for key, value in found.items() if value}


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    service: Mapping[str, Any] | None = None,
    job: Mapping[str, Any] | None = None,
) -> ServiceSettings:
    """Settings from a TOML file, then `HYGIENE_*` variables in `env`, then flag values (None skipped).

    `service` holds service fields ({"port": 9000}); `job` holds dotted job-config overrides as the
    CLI passes them ({"detector.max_tokens": 64}).
    """
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    env = os.environ if env is None else env
    fields = dict(data.pop("service", {}))
    fields.update(_from_env(env))
    fields.update({k: v for k, v in (service or {}).items() if v is not None})
    config = load_config(None, {**_flatten(data), **_job_from_env(env), **(job or {})})
    try:
        return ServiceSettings(**fields, job=config)
    except ValidationError as exc:
        problems = "; ".join(f"service.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid service settings: {problems}") from exc
