"""Stage settings: the only module that reads the environment, once, and validates it.

On Lambda the stage's variables come from ``.chalice/config.json`` through the
deployment; everywhere else (``make run``, tests, the operator CLI) the same file is
read here for the stage named by ``TEMPORALIST_STAGE`` (default ``local``), and real
environment variables win over it.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

STAGES = ("local", "dev", "prod")
CHALICE_CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"
LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account: local queue URLs use it
WEBHOOK_TIMEOUT_SECONDS = 8.0


class ConfigError(RuntimeError):
    """The environment does not describe a usable stage."""


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    endpoint_url: str | None
    table_prefix: str
    webhook_queue_name: str
    webhook_queue_url: str
    allow_insecure_webhooks: bool
    webhook_timeout_seconds: float = WEBHOOK_TIMEOUT_SECONDS
    cursor_secret: bytes | None = None  # signs page cursors; the local stage makes one up

    def table_name(self, short_name: str) -> str:
        return f"{self.table_prefix}-{short_name}"


def chalice_config() -> dict:
    """``.chalice/config.json`` as written; empty where it is absent (on Lambda only the
    environment exists)."""
    try:
        return json.loads(CHALICE_CONFIG.read_text())
    except FileNotFoundError:
        return {}


# Chalice merges these mappings key by key across the levels; any other key is looked up.
_MERGED_KEYS = ("environment_variables", "tags")


def stage_config(stage: str) -> dict:
    """The stage's settings in ``.chalice/config.json`` as Chalice reads them: a stage's key
    overrides the top-level one (a null one does not), and the environment variables and
    tags of both are merged, the stage's winning. Per-function entries are not applied."""
    top = chalice_config()
    stage_keys = top.pop("stages", {}).get(stage, {})
    merged = {**top, **{k: v for k, v in stage_keys.items() if v is not None}}
    for key in _MERGED_KEYS:
        if key in top or key in stage_keys:
            merged[key] = {**(top.get(key) or {}), **(stage_keys.get(key) or {})}
    return merged


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build and validate the settings from an environment mapping."""
    env = dict(os.environ if environ is None else environ)
    stage = env.get("TEMPORALIST_STAGE", "local")
    if stage not in STAGES:
        raise ConfigError(f"TEMPORALIST_STAGE must be one of {', '.join(STAGES)}, not {stage!r}")
    env = {**stage_config(stage).get("environment_variables", {}), **env}
    endpoint = env.get("AWS_ENDPOINT_URL") or (LOCAL_ENDPOINT if stage == "local" else None)
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    queue_name = env.get("TEMPORALIST_WEBHOOK_QUEUE", f"temporalist-{stage}-webhooks")
    queue_url = env.get("TEMPORALIST_WEBHOOK_QUEUE_URL") or (
        f"{endpoint.rstrip('/')}/{LOCAL_ACCOUNT_ID}/{queue_name}" if endpoint else "")
    if not queue_url:
        raise ConfigError("TEMPORALIST_WEBHOOK_QUEUE_URL is required outside the local stage")
    insecure = env.get("TEMPORALIST_ALLOW_INSECURE_WEBHOOKS", "false").lower() == "true"
    if insecure and stage != "local":
        raise ConfigError("only the local stage may allow http:// and loopback webhook targets")
    cursor_secret = env.get("TEMPORALIST_CURSOR_SECRET", "")
    if cursor_secret and len(cursor_secret) < 32:
        raise ConfigError("TEMPORALIST_CURSOR_SECRET must be at least 32 characters")
    if not cursor_secret and stage == "local":
        cursor_secret = secrets.token_hex(32)  # cursors of this process only
    return Settings(
        stage=stage,
        region=region,
        endpoint_url=endpoint,
        table_prefix=env.get("TEMPORALIST_TABLE_PREFIX", f"temporalist-{stage}"),
        webhook_queue_name=queue_name,
        webhook_queue_url=queue_url,
        allow_insecure_webhooks=insecure,
        cursor_secret=cursor_secret.encode() or None,
    )


_lock = threading.Lock()
_settings: Settings | None = None


def settings() -> Settings:
    """The process's settings, read on first use (not at import)."""
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = load_settings()
    return _settings


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI's ``--stage`` call this)."""
    global _settings
    with _lock:
        _settings = None
