"""A stand-in for a sidecar container: holds BYTES of written anonymous memory until it is killed.

Usage: `python tests/sibling.py BYTES`; prints one line once the memory is held. Every page is
written, so the kernel charges all of it to the cgroup the process runs in, as it would a log
router's buffers.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    held = b"\x01" * int(sys.argv[1])
    print(f"holding {len(held)} bytes", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
