"""Byte/MiB conversions and the plausible range of memory figures.

Sizes are int bytes inside; MiB only at the edges (ECS input, Node flags).
"""

MIB = 1 << 20

# The largest memory figure taken as real: twice the largest EC2 instance (u7in-32tb, 32 TiB).
# Anything above it is a corrupt or hostile input, rejected as implausible rather than planned;
# it also keeps every heap flag to 8 digits.
PLAUSIBLE_MAX_MIB = 1 << 26
PLAUSIBLE_MAX_BYTES = PLAUSIBLE_MAX_MIB * MIB
# A decimal figure longer than this is not parsed at all (2**64 has 20 digits; Python's int()
# refuses more than 4300 digits with a ValueError, which must never escape a parser).
MAX_DIGITS = 20


def mib(value: int) -> int:
    """Bytes in `value` MiB."""
    return value * MIB


def floor_mib(value_bytes: int) -> int:
    """Whole MiB in `value_bytes`, rounded down (a limit is never rounded up)."""
    return value_bytes // MIB


def decimal(text: str) -> int | None:
    """`text` as a non-negative ASCII decimal of at most MAX_DIGITS digits, or None."""
    if not text or len(text) > MAX_DIGITS or not text.isascii() or not text.isdecimal():
        return None
    return int(text)
