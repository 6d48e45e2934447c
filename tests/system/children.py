"""How system tests start the harness when they mean to signal it."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn``: SIGINT at its default in the child. A job started in the background of
    a shell without job control (``cmd &`` in a script, some CI runners) inherits SIGINT
    ignored, Python then leaves it ignored, and the harness rightly honours that: a test of
    Ctrl-C must not depend on how its own runner was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
