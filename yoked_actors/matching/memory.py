"""The job process's own memory: its peak resident set size, read where the kernel keeps it."""

from __future__ import annotations

import ctypes
import resource
import sys
import threading


def peak_rss_mb() -> int:
    """The process's peak resident set size so far, in MiB (``VmHWM`` on Linux; elsewhere
    ``ru_maxrss``, which is KiB on Linux and bytes on macOS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // (1024 * 1024) if sys.platform == "darwin" else peak // 1024)


#: glibc ``mallopt`` parameter: allocations at least this big are mapped on their own.
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20


def return_freed_memory() -> None:
    """Make glibc map every allocation of ``MMAP_THRESHOLD`` or more on its own, so that a
    freed array goes back to the system at once and a growing one is moved by ``mremap``
    instead of copied. By default glibc raises that threshold after the first large frees (up
    to 32 MiB), after which freed arrays stay in the heap and count in the peak. No-op on
    other C libraries."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def trim() -> None:
    """Give the free memory at the top of every malloc arena back to the system (glibc's
    ``malloc_trim``): after the k-d tree's threads, whose small allocations stay in their own
    arenas. No-op on other C libraries."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    malloc_trim(0)


#: One generation (or shard) at a time per process: a worker process runs several threads,
#: and the memory budget is per process. Others wait for it (their time limit still runs).
ONE_RUN_AT_A_TIME = threading.Lock()
