from typing import Any

# Each get() builds one status message for avocado's status server: a plain dict with
# "status" and "time" added (keyword arguments that are None are left out).

class StartedMessage:
    @classmethod
    def get(cls, **kwargs: Any) -> dict[str, Any]: ...

class FinishedMessage:
    @classmethod
    def get(
        cls,
        result: str,
        fail_reason: str | None = None,
        returncode: int | None = None,
        class_name: str | None = None,
        fail_class: str | None = None,
        traceback: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]: ...

class _RunningMessage:
    @classmethod
    def get(cls, msg: str | bytes, **kwargs: Any) -> dict[str, Any]: ...

class LogMessage(_RunningMessage): ...
class StdoutMessage(_RunningMessage): ...
class StderrMessage(_RunningMessage): ...
class WhiteboardMessage(_RunningMessage): ...
