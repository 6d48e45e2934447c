from collections.abc import Callable
from typing import Any, ClassVar

class BaseRunnerApp:
    PROG_NAME: ClassVar[str]
    PROG_DESCRIPTION: ClassVar[str]
    RUNNABLE_KINDS_CAPABLE: ClassVar[list[str]]
    def __init__(
        self,
        echo: Callable[..., Any] = ...,
        prog: str | None = None,
        description: str | None = None,
    ) -> None: ...
    def run(self) -> None: ...
