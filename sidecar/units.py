"""Byte/MiB conversions. Sizes are int bytes inside; MiB only at the edges (ECS input, Node flags)."""

MIB = 1 << 20


def mib(value: int) -> int:
    """Bytes in `value` MiB."""
    return value * MIB


def floor_mib(value_bytes: int) -> int:
    """Whole MiB in `value_bytes`, rounded down (a limit is never rounded up)."""
    return value_bytes // MIB
