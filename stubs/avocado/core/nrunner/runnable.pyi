from typing import Any

class Runnable:
    kind: str
    uri: str | None
    args: tuple[Any, ...]
    tags: dict[str, set[str] | None] | None
    output_dir: str | None
    kwargs: dict[str, Any]
    def __init__(
        self,
        kind: str,
        uri: str | None,
        *args: Any,
        config: dict[str, Any] | None = None,
        identifier: str | None = None,
        **kwargs: Any,
    ) -> None: ...
    @property
    def identifier(self) -> str: ...
    @classmethod
    def from_args(cls, args: dict[str, Any]) -> Runnable: ...
    # The runner's `task-run` arguments: -k KIND, -u URI, then key=value ones.
    def get_command_args(self) -> list[str]: ...
    def get_serializable_tags(self) -> dict[str, list[str] | None]: ...
    @staticmethod
    def pick_runner_command(
        kind: str, runners_registry: dict[str, Any] | None = None
    ) -> list[str] | None: ...
