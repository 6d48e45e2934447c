from collections.abc import Iterator
from typing import Any, ClassVar

class BaseRunner:
    CONFIGURATION_USED: ClassVar[list[str]]
    # Status messages (dicts) for avocado's status server, "started" first, "finished" last.
    def run(self, runnable: Any) -> Iterator[dict[str, Any]]: ...
