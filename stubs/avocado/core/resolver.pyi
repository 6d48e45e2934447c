from enum import Enum
from typing import Any

from avocado.core.nrunner.runnable import Runnable

class ReferenceResolutionResult(Enum):
    SUCCESS = ...
    CORRUPT = ...
    NOTFOUND = ...
    ERROR = ...

class ReferenceResolution:
    reference: str
    result: ReferenceResolutionResult
    resolutions: list[Runnable]
    info: str | None
    origin: str | None
    def __init__(
        self,
        reference: str,
        result: ReferenceResolutionResult,
        resolutions: list[Runnable] | None = None,
        info: str | None = None,
        origin: str | None = None,
    ) -> None: ...

def resolve(
    references: list[str],
    hint: Any = None,
    ignore_missing: bool = True,
    config: dict[str, Any] | None = None,
) -> list[ReferenceResolution]: ...
