"""Child processes that never outlive their parent (runners, impair's workers, the local agent worker)."""

from __future__ import annotations

import signal


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere a no-op).

    A supervisor killed with SIGKILL cannot stop its runners, and a runner left running would go
    on writing into a run that nobody supervises, or that a `--resume` has taken over.
    """
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass
