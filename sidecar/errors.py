"""Every way the sidecar can fail, one class each, with its exit code (listed in the README)."""


class SidecarError(Exception):
    """Root of the sidecar's errors; the message is one line."""

    exit_code = 1


class SettingsError(SidecarError):
    """One or more settings are invalid; lists every bad variable at once."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class TargetError(SidecarError):
    """The Node container cannot be identified (ambiguous, or not in the task)."""

    exit_code = 3


class NoLimitError(SidecarError):
    """No trustworthy memory limit for the Node container: none at all, or only the machine's MemTotal
    (raised in `closed` mode only)."""

    exit_code = 4


class TooSmallError(SidecarError):
    """The container cannot hold a useful heap (raised in `closed` mode only)."""

    exit_code = 5


class OutputError(SidecarError):
    """The env file could not be written."""

    exit_code = 6


class PinError(SidecarError):
    """The app's own heap flag gives more old space than the container holds (raised in `closed` mode only)."""

    exit_code = 7


class SourceError(SidecarError):
    """A memory source answered with something malformed; recorded by the job, never fatal alone."""


class FleetApiError(SidecarError):
    """A fleet command could not read the ECS API at all (credentials, permissions, endpoint)."""

    exit_code = 11


class AdoptRefusedError(SidecarError):
    """`adopt` refuses a task definition it cannot rewrite safely; lists every reason at once, each saying
    what to do."""

    exit_code = 12

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else problems
        super().__init__("; ".join(self.problems))
