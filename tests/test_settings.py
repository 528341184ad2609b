"""Tests for sidecar.settings: the environment (and CLI flags) read into one validated Settings value.

Every test passes the environment as a dict (no test touches os.environ). Expected values and
messages are written out by hand from the declaration in `VARS` and the message format in STYLE.md
("where, what was found, what was expected").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.errors import SettingsError
from sidecar.notices import Notice
from sidecar.outputs.log import LogFormat
from sidecar.settings import (
    VARS,
    EcsApi,
    OnError,
    Settings,
    load_settings,
    render_settings_table,
    unknown_settings,
)
from sidecar.sizing.plan import YoungRule

DEFAULTS = Settings(
    metadata_uri=None,
    target=None,
    env_file=Path("/shared/node-heap.env"),
    memory_mib=None,
    processes=1,
    reserve_mib=0,
    tmpfs_mib=(),
    sibling_mib=(),
    sibling_default_mib=64,
    headroom_ratio=0.1,
    ratio=None,
    min_mib=32,
    max_mib=None,
    semi_space=YoungRule.SPEED,
    on_error=OnError.OPEN,
    ecs_api=EcsApi.AUTO,
    node_version=None,
    metrics_namespace="NodeHeapSidecar",
    cgroup_root=Path("/sys/fs/cgroup"),
    proc_root=Path("/proc"),
    log_format=LogFormat.AUTO,
)

SEMI_SPACE_EXPECTED = "expected one of speed, node, memory, or a semi-space in MiB from 1 to 1024"

ALL_VARIABLES = [
    "ECS_CONTAINER_METADATA_URI_V4",
    "NODE_HEAP_TARGET",
    "NODE_HEAP_ENV_FILE",
    "NODE_HEAP_MEMORY_MIB",
    "NODE_HEAP_PROCESSES",
    "NODE_HEAP_RESERVE_MIB",
    "NODE_HEAP_TMPFS_MIB",
    "NODE_HEAP_SIBLING_MIB",
    "NODE_HEAP_SIBLING_DEFAULT_MIB",
    "NODE_HEAP_HEADROOM_RATIO",
    "NODE_HEAP_RATIO",
    "NODE_HEAP_MIN_MIB",
    "NODE_HEAP_MAX_MIB",
    "NODE_HEAP_SEMI_SPACE",
    "NODE_HEAP_ON_ERROR",
    "NODE_HEAP_ECS_API",
    "NODE_HEAP_DEADLINE_S",
    "NODE_HEAP_NODE_VERSION",
    "NODE_HEAP_METRICS_NAMESPACE",
    "NODE_HEAP_CGROUP_ROOT",
    "NODE_HEAP_PROC_ROOT",
    "NODE_HEAP_LOG_FORMAT",
]


def settings_error(environ: dict[str, str], flags: dict[str, str | None] | None = None) -> SettingsError:
    """The SettingsError that load_settings raises for `environ` (env file not checked)."""
    with pytest.raises(SettingsError) as info:
        load_settings(environ, flags)
    return info.value


class TestLoadSettings:
    def test_defaults(self) -> None:
        """An empty environment gives every variable's documented default."""
        assert load_settings({}) == DEFAULTS

    def test_every_variable_from_the_environment(self, tmp_path: Path) -> None:
        """Each variable is read into its field, converted to its type."""
        environ = {
            "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/ee08638adaaf-3b1a",
            "NODE_HEAP_TARGET": "web-app_1",
            "NODE_HEAP_ENV_FILE": f"{tmp_path}/node-heap.env",
            "NODE_HEAP_MEMORY_MIB": "2048",
            "NODE_HEAP_PROCESSES": "4",
            "NODE_HEAP_RESERVE_MIB": "64",
            "NODE_HEAP_TMPFS_MIB": "/tmp=256, /run/app=16",
            "NODE_HEAP_SIBLING_MIB": "log_router=96,service-connect=128",
            "NODE_HEAP_SIBLING_DEFAULT_MIB": "32",
            "NODE_HEAP_HEADROOM_RATIO": "0.25",
            "NODE_HEAP_RATIO": "0.75",
            "NODE_HEAP_MIN_MIB": "64",
            "NODE_HEAP_MAX_MIB": "4096",
            "NODE_HEAP_SEMI_SPACE": "32",
            "NODE_HEAP_ON_ERROR": "closed",
            "NODE_HEAP_ECS_API": "off",
            "NODE_HEAP_NODE_VERSION": "22.21.0",
            "NODE_HEAP_METRICS_NAMESPACE": "MyTeam/NodeHeap",
            "NODE_HEAP_CGROUP_ROOT": "/captured/sys/fs/cgroup",
            "NODE_HEAP_PROC_ROOT": "/captured/proc",
            "NODE_HEAP_LOG_FORMAT": "console",
        }

        assert load_settings(environ) == Settings(
            metadata_uri="http://169.254.170.2/v4/ee08638adaaf-3b1a",
            target=("web-app_1",),
            env_file=tmp_path / "node-heap.env",
            memory_mib=2048,
            processes=4,
            reserve_mib=64,
            tmpfs_mib=(("/tmp", 256), ("/run/app", 16)),
            sibling_mib=(("log_router", 96), ("service-connect", 128)),
            sibling_default_mib=32,
            headroom_ratio=0.25,
            ratio=0.75,
            min_mib=64,
            max_mib=4096,
            semi_space=32,
            on_error=OnError.CLOSED,
            ecs_api=EcsApi.OFF,
            node_version="22.21.0",
            metrics_namespace="MyTeam/NodeHeap",
            cgroup_root=Path("/captured/sys/fs/cgroup"),
            proc_root=Path("/captured/proc"),
            log_format=LogFormat.CONSOLE,
        )

    @pytest.mark.parametrize(
        ("variable", "raw", "field", "expected"),
        [
            pytest.param("NODE_HEAP_PROCESSES", " 4 ", "processes", 4, id="int-surrounding-spaces"),
            pytest.param("NODE_HEAP_MEMORY_MIB", "007", "memory_mib", 7, id="int-leading-zeros"),
            pytest.param("NODE_HEAP_RESERVE_MIB", "0", "reserve_mib", 0, id="reserve-zero"),
            pytest.param("NODE_HEAP_RATIO", "1", "ratio", 1.0, id="ratio-one"),
            pytest.param("NODE_HEAP_RATIO", ".5", "ratio", 0.5, id="ratio-no-leading-digit"),
            pytest.param("NODE_HEAP_RATIO", "5e-1", "ratio", 0.5, id="ratio-exponent"),
            pytest.param("NODE_HEAP_HEADROOM_RATIO", "0", "headroom_ratio", 0.0, id="headroom-zero"),
            pytest.param("NODE_HEAP_HEADROOM_RATIO", "0.99", "headroom_ratio", 0.99, id="headroom-below-one"),
            pytest.param("NODE_HEAP_ON_ERROR", " Closed ", "on_error", OnError.CLOSED, id="choice-case"),
            pytest.param("NODE_HEAP_ECS_API", "AUTO", "ecs_api", EcsApi.AUTO, id="choice-upper"),
            pytest.param("NODE_HEAP_LOG_FORMAT", "JSON", "log_format", LogFormat.JSON, id="log-format"),
            pytest.param("NODE_HEAP_NODE_VERSION", "22", "node_version", "22", id="version-major"),
            pytest.param("NODE_HEAP_NODE_VERSION", "v20.11", "node_version", "20.11", id="version-v"),
            pytest.param("NODE_HEAP_TARGET", " web ", "target", ("web",), id="target-stripped"),
            pytest.param("NODE_HEAP_TARGET", "web, worker", "target", ("web", "worker"), id="targets"),
            pytest.param("NODE_HEAP_SEMI_SPACE", " Memory ", "semi_space", YoungRule.MEMORY, id="semi-rule-case"),
            pytest.param("NODE_HEAP_SEMI_SPACE", "node", "semi_space", YoungRule.NODE, id="semi-rule-node"),
            pytest.param("NODE_HEAP_SEMI_SPACE", "1024", "semi_space", 1024, id="semi-mib-largest"),
            pytest.param("NODE_HEAP_SEMI_SPACE", "48", "semi_space", 48, id="semi-mib-not-a-power-of-two"),
            pytest.param("NODE_HEAP_TARGET", "a" * 255, "target", ("a" * 255,), id="target-255-chars"),
            pytest.param(
                "NODE_HEAP_METRICS_NAMESPACE",
                "a.b_c#d:e/f-1",
                "metrics_namespace",
                "a.b_c#d:e/f-1",
                id="namespace-every-punctuation",
            ),
            pytest.param(
                "NODE_HEAP_METRICS_NAMESPACE", "My Team/Node", "metrics_namespace", "My Team/Node", id="namespace-space"
            ),
            pytest.param("NODE_HEAP_MEMORY_MIB", "67108864", "memory_mib", 67108864, id="memory-64-tib"),
            pytest.param("NODE_HEAP_PROC_ROOT", " /fixtures/proc ", "proc_root", Path("/fixtures/proc"), id="path"),
            pytest.param(
                "NODE_HEAP_SIBLING_MIB",
                " log_router = 96 ,xray-daemon=0, ",
                "sibling_mib",
                (("log_router", 96), ("xray-daemon", 0)),
                id="sibling-spaces-zero-trailing-comma",
            ),
            pytest.param("NODE_HEAP_SIBLING_DEFAULT_MIB", "0", "sibling_default_mib", 0, id="sibling-default-zero"),
        ],
    )
    def test_values_parsed(self, variable: str, raw: str, field: str, expected: object) -> None:
        """Values are stripped of spaces; choices ignore case; a `v` before a version is dropped."""
        settings = load_settings({variable: raw})

        assert getattr(settings, field) == expected

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            pytest.param(
                "http://169.254.170.2/v4/ee08638adaaf-3b1a",
                "http://169.254.170.2/v4/ee08638adaaf-3b1a",
                id="as-set-by-ecs",
            ),
            pytest.param(
                "http://169.254.170.2/v4/ee08638adaaf-3b1a/",
                "http://169.254.170.2/v4/ee08638adaaf-3b1a",
                id="trailing-slash-dropped",
            ),
            pytest.param(" http://127.0.0.1:51678/v4/x ", "http://127.0.0.1:51678/v4/x", id="port-spaces"),
            pytest.param("https://tmds.example/v4", "https://tmds.example/v4", id="https"),
            pytest.param("http://[::1]:8080/v4", "http://[::1]:8080/v4", id="ipv6"),
        ],
    )
    def test_metadata_uri_accepted(self, raw: str, expected: str) -> None:
        """An http(s) URL with a host is kept, without spaces or a trailing slash (paths are appended)."""
        settings = load_settings({"ECS_CONTAINER_METADATA_URI_V4": raw})

        assert settings.metadata_uri == expected

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param("169.254.170.2/v4/ee08638adaaf", id="no-scheme"),
            pytest.param("ftp://169.254.170.2/v4", id="ftp"),
            pytest.param("http://", id="no-host"),
            pytest.param("http:///v4/abc", id="empty-host"),
            pytest.param("http://[::1/v4", id="unclosed-ipv6-bracket"),  # urlsplit raised ValueError
            pytest.param("http://169.254.170.2:http/v4", id="port-not-a-number"),
            pytest.param("http://169.254.170.2:70000/v4", id="port-out-of-range"),
        ],
    )
    def test_metadata_uri_rejected(self, raw: str) -> None:
        """Anything but an http(s) URL with a host and a valid port is reported, quoting the value."""
        error = settings_error({"ECS_CONTAINER_METADATA_URI_V4": raw})

        assert error.problems == [f"ECS_CONTAINER_METADATA_URI_V4={raw!r}: expected an http:// URL"]

    @pytest.mark.parametrize(
        ("variable", "raw", "message"),
        [
            pytest.param(
                "NODE_HEAP_PROCESSES",
                "0",
                "NODE_HEAP_PROCESSES='0': expected a whole number from 1 to 1024",
                id="processes-zero",
            ),
            pytest.param(
                "NODE_HEAP_PROCESSES",
                "two",
                "NODE_HEAP_PROCESSES='two': expected a whole number from 1 to 1024",
                id="processes-word",
            ),
            pytest.param(
                "NODE_HEAP_MEMORY_MIB",
                "1.5",
                "NODE_HEAP_MEMORY_MIB='1.5': expected a whole number from 1 to 67108864",
                id="memory-fraction",
            ),
            pytest.param(
                "NODE_HEAP_MEMORY_MIB",
                "512MiB",
                "NODE_HEAP_MEMORY_MIB='512MiB': expected a whole number from 1 to 67108864",
                id="memory-with-unit",
            ),
            pytest.param(
                "NODE_HEAP_MEMORY_MIB",
                "+512",
                "NODE_HEAP_MEMORY_MIB='+512': expected a whole number from 1 to 67108864",
                id="memory-plus-sign",
            ),
            pytest.param(
                "NODE_HEAP_RESERVE_MIB",
                "-1",
                "NODE_HEAP_RESERVE_MIB='-1': expected a whole number from 0 to 67108864",
                id="reserve-negative",
            ),
            pytest.param(
                "NODE_HEAP_MIN_MIB",
                "0",
                "NODE_HEAP_MIN_MIB='0': expected a whole number from 1 to 67108864",
                id="min-zero",
            ),
            pytest.param(
                "NODE_HEAP_SEMI_SPACE",
                "fast",
                "NODE_HEAP_SEMI_SPACE='fast': " + SEMI_SPACE_EXPECTED,
                id="semi-word",
            ),
            pytest.param(
                "NODE_HEAP_SEMI_SPACE",
                "0",
                "NODE_HEAP_SEMI_SPACE='0': " + SEMI_SPACE_EXPECTED,
                id="semi-zero",
            ),
            pytest.param(
                "NODE_HEAP_SEMI_SPACE",
                "2048",
                "NODE_HEAP_SEMI_SPACE='2048': " + SEMI_SPACE_EXPECTED,
                id="semi-too-large",
            ),
            pytest.param(
                "NODE_HEAP_MAX_MIB",
                "lots",
                "NODE_HEAP_MAX_MIB='lots': expected a whole number from 1 to 67108864",
                id="max-word",
            ),
            pytest.param(
                "NODE_HEAP_RATIO",
                "abc",
                "NODE_HEAP_RATIO='abc': expected a number greater than 0 and at most 1",
                id="ratio-word",
            ),
            pytest.param(
                "NODE_HEAP_RATIO",
                "0",
                "NODE_HEAP_RATIO='0': expected a number greater than 0 and at most 1",
                id="ratio-zero",
            ),
            pytest.param(
                "NODE_HEAP_RATIO",
                "1.01",
                "NODE_HEAP_RATIO='1.01': expected a number greater than 0 and at most 1",
                id="ratio-above-one",
            ),
            pytest.param(
                "NODE_HEAP_RATIO",
                "nan",
                "NODE_HEAP_RATIO='nan': expected a number greater than 0 and at most 1",
                id="ratio-nan",
            ),
            pytest.param(
                "NODE_HEAP_RATIO",
                "75%",
                "NODE_HEAP_RATIO='75%': expected a number greater than 0 and at most 1",
                id="ratio-percent",
            ),
            pytest.param(
                "NODE_HEAP_HEADROOM_RATIO",
                "1",
                "NODE_HEAP_HEADROOM_RATIO='1': expected a number at least 0 and below 1",
                id="headroom-one",
            ),
            pytest.param(
                "NODE_HEAP_HEADROOM_RATIO",
                "-0.1",
                "NODE_HEAP_HEADROOM_RATIO='-0.1': expected a number at least 0 and below 1",
                id="headroom-negative",
            ),
            pytest.param(
                "NODE_HEAP_HEADROOM_RATIO",
                "inf",
                "NODE_HEAP_HEADROOM_RATIO='inf': expected a number at least 0 and below 1",
                id="headroom-inf",
            ),
            pytest.param(
                "NODE_HEAP_SIBLING_MIB",
                "log_router",
                "NODE_HEAP_SIBLING_MIB='log_router': expected name=MiB pairs separated by commas, "
                "e.g. log_router=96,xray-daemon=32 ('log_router' is not one)",
                id="sibling-no-mib",
            ),
            pytest.param(
                "NODE_HEAP_SIBLING_MIB",
                "log_router=96;xray=32",
                "NODE_HEAP_SIBLING_MIB='log_router=96;xray=32': expected name=MiB pairs separated by commas, "
                "e.g. log_router=96,xray-daemon=32 ('log_router=96;xray=32' is not one)",
                id="sibling-semicolon",
            ),
            pytest.param(
                "NODE_HEAP_SIBLING_MIB",
                "log_router=96MiB",
                "NODE_HEAP_SIBLING_MIB='log_router=96MiB': expected name=MiB pairs separated by commas, "
                "e.g. log_router=96,xray-daemon=32 ('log_router=96MiB' is not one)",
                id="sibling-unit",
            ),
            pytest.param(
                "NODE_HEAP_SIBLING_MIB",
                "log router=96",
                "NODE_HEAP_SIBLING_MIB='log router=96': expected name=MiB pairs separated by commas, "
                "e.g. log_router=96,xray-daemon=32 ('log router=96' is not one)",
                id="sibling-name-with-space",
            ),
            pytest.param(
                "NODE_HEAP_SIBLING_MIB",
                "a=1,b=2,a=3",
                "NODE_HEAP_SIBLING_MIB='a=1,b=2,a=3': expected name=MiB pairs separated by commas, "
                "e.g. log_router=96,xray-daemon=32, each name once ('a' appears twice)",
                id="sibling-duplicate",
            ),
            pytest.param(
                "NODE_HEAP_SIBLING_MIB",
                "envoy=67108865",
                "NODE_HEAP_SIBLING_MIB='envoy=67108865': expected name=MiB pairs separated by commas, "
                "e.g. log_router=96,xray-daemon=32 ('envoy=67108865': at most 67108864 MiB)",
                id="sibling-too-large",
            ),
            pytest.param(
                "NODE_HEAP_SIBLING_DEFAULT_MIB",
                "-1",
                "NODE_HEAP_SIBLING_DEFAULT_MIB='-1': expected a whole number from 0 to 67108864",
                id="sibling-default-negative",
            ),
            pytest.param(
                "NODE_HEAP_ON_ERROR",
                "fail",
                "NODE_HEAP_ON_ERROR='fail': expected one of open, closed",
                id="on-error",
            ),
            pytest.param(
                "NODE_HEAP_ECS_API",
                "on",
                "NODE_HEAP_ECS_API='on': expected one of auto, off",
                id="ecs-api",
            ),
            pytest.param(
                "NODE_HEAP_LOG_FORMAT",
                "text",
                "NODE_HEAP_LOG_FORMAT='text': expected one of json, console, auto",
                id="log-format",
            ),
            pytest.param(
                "NODE_HEAP_TARGET",
                "web app",
                "NODE_HEAP_TARGET='web app': expected an ECS container name (letters, digits, '_' or '-'),"
                " or several separated by commas",
                id="target-space",
            ),
            pytest.param(
                "NODE_HEAP_TARGET",
                "web.app",
                "NODE_HEAP_TARGET='web.app': expected an ECS container name (letters, digits, '_' or '-'),"
                " or several separated by commas",
                id="target-dot",
            ),
            pytest.param(
                "NODE_HEAP_TARGET",
                "a" * 256,
                # a message quotes at most 120 characters of the value: ' + 116 + ...
                f"NODE_HEAP_TARGET='{'a' * 116}...: expected an ECS container name (letters, digits, '_' or '-'),"
                " or several separated by commas",
                id="target-256-chars",
            ),
            pytest.param(
                "NODE_HEAP_TARGET",
                "web,web",
                "NODE_HEAP_TARGET='web,web': expected an ECS container name (letters, digits, '_' or '-'),"
                " or several separated by commas, each once",
                id="target-twice",
            ),
            pytest.param(
                "NODE_HEAP_TARGET",
                "web,",
                "NODE_HEAP_TARGET='web,': expected an ECS container name (letters, digits, '_' or '-'),"
                " or several separated by commas",
                id="target-trailing-comma",
            ),
            pytest.param(
                "NODE_HEAP_NODE_VERSION",
                "lts",
                "NODE_HEAP_NODE_VERSION='lts': expected a Node.js version such as 22 or 22.21.0",
                id="version-lts",
            ),
            pytest.param(
                "NODE_HEAP_NODE_VERSION",
                "22.x",
                "NODE_HEAP_NODE_VERSION='22.x': expected a Node.js version such as 22 or 22.21.0",
                id="version-x",
            ),
            pytest.param(
                "NODE_HEAP_NODE_VERSION",
                "22.21.0.1",
                "NODE_HEAP_NODE_VERSION='22.21.0.1': expected a Node.js version such as 22 or 22.21.0",
                id="version-four-parts",
            ),
            pytest.param(
                "NODE_HEAP_MEMORY_MIB",
                "67108865",
                "NODE_HEAP_MEMORY_MIB='67108865': expected a whole number from 1 to 67108864",
                id="memory-above-64-tib",
            ),
            pytest.param(
                "NODE_HEAP_MEMORY_MIB",
                "9" * 5000,
                f"NODE_HEAP_MEMORY_MIB='{'9' * 116}...: expected a whole number from 1 to 67108864",
                id="memory-5000-digits",
            ),
            pytest.param(
                "NODE_HEAP_PROCESSES",
                "1025",
                "NODE_HEAP_PROCESSES='1025': expected a whole number from 1 to 1024",
                id="processes-above-1024",
            ),
            pytest.param(
                "NODE_HEAP_METRICS_NAMESPACE",
                "NodeHeap!",
                "NODE_HEAP_METRICS_NAMESPACE='NodeHeap!': expected empty, or a CloudWatch namespace "
                "of letters, digits, spaces inside and . _ # : / -",
                id="namespace-bang",
            ),
            pytest.param(
                "NODE_HEAP_METRICS_NAMESPACE",
                "n" * 256,
                f"NODE_HEAP_METRICS_NAMESPACE='{'n' * 116}...: expected empty, or a CloudWatch namespace "
                "of letters, digits, spaces inside and . _ # : / -",
                id="namespace-256-chars",
            ),
        ],
    )
    def test_bad_value(self, variable: str, raw: str, message: str) -> None:
        """A bad value is reported with its variable, the value as given and what was expected."""
        error = settings_error({variable: raw})

        assert error.problems == [message]
        assert str(error) == message

    def test_every_bad_variable_reported_at_once(self) -> None:
        """Several bad variables give one SettingsError listing each, in declaration order."""
        error = settings_error(
            {
                "NODE_HEAP_ON_ERROR": "maybe",
                "NODE_HEAP_PROCESSES": "0",
                "NODE_HEAP_RATIO": "2",
            }
        )

        assert error.problems == [
            "NODE_HEAP_PROCESSES='0': expected a whole number from 1 to 1024",
            "NODE_HEAP_RATIO='2': expected a number greater than 0 and at most 1",
            "NODE_HEAP_ON_ERROR='maybe': expected one of open, closed",
        ]
        assert str(error) == (
            "NODE_HEAP_PROCESSES='0': expected a whole number from 1 to 1024; "
            "NODE_HEAP_RATIO='2': expected a number greater than 0 and at most 1; "
            "NODE_HEAP_ON_ERROR='maybe': expected one of open, closed"
        )

    def test_bad_values_min_above_max_and_env_file_together(self) -> None:
        """Conversion problems come first, then min > max, then the env file's form, all in one error."""
        with pytest.raises(SettingsError) as info:
            load_settings(
                {
                    "NODE_HEAP_LOG_FORMAT": "xml",
                    "NODE_HEAP_MIN_MIB": "512",
                    "NODE_HEAP_MAX_MIB": "256",
                    "NODE_HEAP_ENV_FILE": "/shared/..",
                }
            )

        assert info.value.problems == [
            "NODE_HEAP_LOG_FORMAT='xml': expected one of json, console, auto",
            "NODE_HEAP_MIN_MIB=512 is greater than NODE_HEAP_MAX_MIB=256: "
            "expected the minimum to be at most the maximum",
            "NODE_HEAP_ENV_FILE='/shared/..': expected a file path, not a directory",
        ]

    def test_min_above_max(self) -> None:
        """A minimum above the maximum names both variables and both values."""
        error = settings_error({"NODE_HEAP_MIN_MIB": "128", "NODE_HEAP_MAX_MIB": "64"})

        assert error.problems == [
            "NODE_HEAP_MIN_MIB=128 is greater than NODE_HEAP_MAX_MIB=64: expected the minimum to be at most the maximum"
        ]

    def test_default_min_above_max(self) -> None:
        """A maximum below the default minimum (32) says the minimum is the default."""
        error = settings_error({"NODE_HEAP_MAX_MIB": "16"})

        assert error.problems == [
            "NODE_HEAP_MIN_MIB (default)=32 is greater than NODE_HEAP_MAX_MIB=16: "
            "expected the minimum to be at most the maximum"
        ]

    def test_min_equal_to_max(self) -> None:
        """A minimum equal to the maximum is allowed."""
        settings = load_settings({"NODE_HEAP_MIN_MIB": "64", "NODE_HEAP_MAX_MIB": "64"})

        assert (settings.min_mib, settings.max_mib) == (64, 64)

    def test_bad_min_is_not_compared_with_max(self) -> None:
        """A minimum that is itself invalid is reported, and the maximum given beside it is named as unchecked."""
        error = settings_error({"NODE_HEAP_MIN_MIB": "abc", "NODE_HEAP_MAX_MIB": "12"})

        assert error.problems == [
            "NODE_HEAP_MIN_MIB='abc': expected a whole number from 1 to 67108864",
            "NODE_HEAP_MAX_MIB=12: not checked against NODE_HEAP_MIN_MIB, which is invalid",
        ]

    def test_bad_max_beside_the_default_min(self) -> None:
        """An invalid maximum beside the default minimum is reported alone."""
        error = settings_error({"NODE_HEAP_MAX_MIB": "lots"})

        assert error.problems == ["NODE_HEAP_MAX_MIB='lots': expected a whole number from 1 to 67108864"]

    @pytest.mark.parametrize("blank", ["", "   "])
    def test_empty_means_unset(self, blank: str) -> None:
        """An empty (or all-space) variable is read as unset: its default applies."""
        environ = {name: blank for name in ALL_VARIABLES if name != "NODE_HEAP_METRICS_NAMESPACE"}

        assert load_settings(environ) == DEFAULTS

    @pytest.mark.parametrize("blank", ["", "   "])
    def test_empty_metrics_namespace_turns_metrics_off(self, blank: str) -> None:
        """NODE_HEAP_METRICS_NAMESPACE is the exception: empty means no EMF metrics, not the default."""
        settings = load_settings({"NODE_HEAP_METRICS_NAMESPACE": blank})

        assert settings.metrics_namespace == ""

    def test_flag_overrides_environment(self) -> None:
        """A flag wins over its variable; a flag given as None leaves the variable in charge."""
        settings = load_settings(
            {"NODE_HEAP_PROCESSES": "2", "NODE_HEAP_MAX_MIB": "900", "NODE_HEAP_ON_ERROR": "closed"},
            {"processes": "3", "max_mib": None, "on_error": "open"},
        )

        assert (settings.processes, settings.max_mib, settings.on_error) == (3, 900, OnError.OPEN)

    def test_flag_wins_over_a_bad_environment_value(self) -> None:
        """A bad variable hidden by a good flag is not reported: the flag is what is used."""
        settings = load_settings({"NODE_HEAP_RATIO": "2"}, {"ratio": "0.5"})

        assert settings.ratio == 0.5

    def test_bad_flag_names_the_flag(self) -> None:
        """A bad flag value is reported under the flag's name, not its variable's."""
        error = settings_error(
            {"NODE_HEAP_PROCESSES": "2"},
            {"processes": "zero", "metadata_uri": "169.254.170.2", "metrics_namespace": "a!b"},
        )

        assert error.problems == [
            "--metadata-uri='169.254.170.2': expected an http:// URL",
            "--processes='zero': expected a whole number from 1 to 1024",
            "--metrics-namespace='a!b': expected empty, or a CloudWatch namespace "
            "of letters, digits, spaces inside and . _ # : / -",
        ]

    def test_min_above_max_names_the_flags(self) -> None:
        """min > max names the flag for a value given as a flag and the variable for the other."""
        error = settings_error({"NODE_HEAP_MAX_MIB": "50"}, {"min_mib": "100"})

        assert error.problems == [
            "--min-mib=100 is greater than NODE_HEAP_MAX_MIB=50: expected the minimum to be at most the maximum"
        ]

    def test_empty_metrics_namespace_flag_turns_metrics_off(self) -> None:
        """`--metrics-namespace ''` turns metrics off even when the variable names a namespace."""
        settings = load_settings({"NODE_HEAP_METRICS_NAMESPACE": "Team"}, {"metrics_namespace": ""})

        assert settings.metrics_namespace == ""


class TestEnvFilePath:
    def test_path_without_a_file_name(self) -> None:
        """A path whose last part names no file (`/`, `..`) is reported as a directory (its form, exit 2)."""
        for raw in ("/", "/tmp/.."):
            with pytest.raises(SettingsError) as info:
                load_settings({"NODE_HEAP_ENV_FILE": raw})
            assert str(info.value) == f"NODE_HEAP_ENV_FILE={raw!r}: expected a file path, not a directory"

    def test_missing_directory_is_not_a_settings_error(self, tmp_path: Path) -> None:
        """Whether the directory exists is the output step's question (exit 6), not a settings error."""
        settings = load_settings({"NODE_HEAP_ENV_FILE": f"{tmp_path}/missing/node-heap.env"})

        assert settings.env_file == tmp_path / "missing" / "node-heap.env"


class TestVar:
    def test_flags(self) -> None:
        """Each variable's flag is its field name in kebab case."""
        assert [var.flag for var in VARS] == [
            "--metadata-uri",
            "--target",
            "--env-file",
            "--memory-mib",
            "--processes",
            "--reserve-mib",
            "--tmpfs-mib",
            "--sibling-mib",
            "--sibling-default-mib",
            "--headroom-ratio",
            "--ratio",
            "--min-mib",
            "--max-mib",
            "--semi-space",
            "--on-error",
            "--ecs-api",
            "--deadline-s",
            "--node-version",
            "--metrics-namespace",
            "--cgroup-root",
            "--proc-root",
            "--log-format",
        ]


class TestRenderSettingsTable:
    def test_one_row_per_variable(self) -> None:
        """The table has its header, then one row per VARS entry, in order."""
        lines = render_settings_table().splitlines()

        assert lines[:2] == ["| Variable | Flag | Default | Meaning |", "| --- | --- | --- | --- |"]
        assert [line.split(" | ")[0] for line in lines[2:]] == [f"| `{name}`" for name in ALL_VARIABLES]

    def test_every_row_has_four_cells(self) -> None:
        """No help text breaks the Markdown table with a stray `|`."""
        assert all(line.count("|") == 5 for line in render_settings_table().splitlines())

    @pytest.mark.parametrize(
        "row",
        [
            pytest.param(
                "| `NODE_HEAP_MAX_MIB` | `--max-mib` | unset | Largest heap in MiB, whatever the container's size. |",
                id="unset",
            ),
            pytest.param(
                "| `NODE_HEAP_ENV_FILE` | `--env-file` | `/shared/node-heap.env` | Where the env "
                "file is written (in a task volume). |",
                id="default",
            ),
        ],
    )
    def test_rows(self, row: str) -> None:
        """A row shows the variable, its flag, its default in code (or `unset`) and its help."""
        assert row in render_settings_table().splitlines()


class TestUnknownNames:
    def test_misspelt_name_open_mode_is_a_warning(self) -> None:
        """NODE_HEAP_PROCESS=4 (the S missing) is named with the setting it resembles; the job goes on."""
        settings = load_settings({"NODE_HEAP_PROCESS": "4"})

        assert settings.processes == 1
        assert settings.warnings == (
            Notice(
                "setting_unknown",
                "NODE_HEAP_PROCESS is not a setting of node-heap-sidecar (did you mean NODE_HEAP_PROCESSES?): ignored",
            ),
        )

    def test_misspelt_name_closed_mode_is_an_error(self) -> None:
        """In closed mode an unknown name stops the job (exit 2), named with the closest setting."""
        with pytest.raises(SettingsError) as info:
            load_settings({"NODE_HEAP_PROCESS": "4", "NODE_HEAP_ON_ERROR": "closed"})

        assert info.value.exit_code == 2
        assert info.value.problems == [
            "NODE_HEAP_PROCESS is not a setting of node-heap-sidecar (did you mean NODE_HEAP_PROCESSES?); "
            "NODE_HEAP_ON_ERROR=closed refuses unknown settings"
        ]

    def test_unlike_any_setting(self) -> None:
        """A name like no setting is named without a guess."""
        assert unknown_settings({"NODE_HEAP_XYZZY": "1"}) == [("NODE_HEAP_XYZZY", None)]

    def test_names_the_env_file_sets_are_not_mistakes(self) -> None:
        """NODE_HEAP_OPTIONS and NODE_HEAP_SH are what the env file itself sets for Node."""
        assert unknown_settings({"NODE_HEAP_OPTIONS": "--max-old-space-size=1", "NODE_HEAP_SH": "x", "PATH": "/"}) == []


class TestTmpfs:
    @pytest.mark.parametrize("raw", ["tmp=256", "/tmp=lots", "/tmp=1,/tmp=2", "/tmp 256"])
    def test_bad_pairs(self, raw: str) -> None:
        """Paths must be absolute, sizes whole MiB, each path once."""
        with pytest.raises(SettingsError) as info:
            load_settings({"NODE_HEAP_TMPFS_MIB": raw})

        assert info.value.problems[0].startswith(f"NODE_HEAP_TMPFS_MIB={raw!r}: expected path=MiB pairs")
