"""The ECS client of the fleet commands, and a counter of the API calls it makes.

boto3 with the standard credential chain and region (environment, profile, SSO, instance or task
role); botocore's own retries (`standard` or `adaptive` mode) handle throttling; the connection
pool is sized for the worker threads. The counter listens to botocore's events: `before-call` once
per operation, `before-send` once per HTTP attempt (retries included), so the README's figures are
what botocore did, not what the audit thinks it did.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sidecar.errors import SettingsError

RETRY_MODES = ("standard", "adaptive")
DEFAULT_MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0


@dataclass(slots=True)
class CallCounter:
    """API operations and HTTP attempts, per operation name; thread-safe."""

    operations: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_call(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.operations[getattr(model, "name", "?")] += 1

    def on_send(self, **_: Any) -> None:
        with self._lock:
            self.attempts += 1

    @property
    def calls(self) -> int:
        return sum(self.operations.values())


def make_client(
    *,
    region: str | None,
    endpoint_url: str | None,
    retry_mode: str,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    pool_size: int = 10,
    counter: CallCounter | None = None,
) -> Any:
    """An ECS client; raises SettingsError when no region is configured or the endpoint is unusable."""
    import boto3  # noqa: PLC0415 (lazy: ~0.3 s, only the fleet commands pay it)
    import botocore.config  # noqa: PLC0415
    import botocore.exceptions  # noqa: PLC0415

    session = boto3.session.Session(region_name=region)
    config = botocore.config.Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        max_pool_connections=pool_size,
    )
    try:
        client = session.client("ecs", endpoint_url=endpoint_url, config=config)
    except botocore.exceptions.NoRegionError:
        raise SettingsError(
            ["no AWS region: set AWS_DEFAULT_REGION (or a profile's region), or pass --region"]
        ) from None
    except ValueError as exc:
        raise SettingsError([f"--endpoint-url={endpoint_url!r}: {exc}"]) from None
    if counter is not None:
        client.meta.events.register("before-call.ecs", counter.on_call)
        client.meta.events.register("before-send.ecs", counter.on_send)
    return client
