"""Fixtures for boundary tests: the servers of tests/servers.py and an AWS environment that stays local."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import EcsJsonStub, MotoServer, TmdsStub, refusing_port

# Proxies could route 127.0.0.1 elsewhere; the rest would let boto3 find real credentials or endpoints.
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An AWS environment with no credentials, no profile and no instance metadata (169.254.169.254)."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in _PROXY_VARS:
            monkeypatch.delenv(name)
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_credentials(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """`aws_env` plus moto's fake static credentials, for this test only."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")


@pytest.fixture
def tmds() -> Iterator[TmdsStub]:
    """A TMDS v4 stub with nothing scripted (every path answers 404); script it with `.script(...)`."""
    with TmdsStub() as stub:
        yield stub


@pytest.fixture
def ecs_stub() -> Iterator[EcsJsonStub]:
    """An ECS awsJson1_1 stub with nothing scripted; script it with `.answer(...)` or `.script(...)`."""
    with EcsJsonStub() as stub:
        yield stub


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session (starting one costs about 0.5 s); use `moto` in tests."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def moto(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, emptied for this test."""
    moto_server.reset()
    return moto_server


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A 127.0.0.1 port where connections are refused."""
    with refusing_port() as port:
        yield port
