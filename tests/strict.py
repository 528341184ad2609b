"""Skip a test whose real dependency (a cgroup, a Node binary, a shell) is missing here; in CI fail.

`.ci/run` sets NHS_STRICT=1, so a machine that lost a dependency turns tests red instead of quietly
skipping what this project exists to prove.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("NHS_STRICT") == "1":
        pytest.fail(f"NHS_STRICT=1 but {reason}")
    pytest.skip(reason)
