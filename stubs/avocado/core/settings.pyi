from collections.abc import Callable
from typing import Any

class Settings:
    def as_dict(self, regex: str | None = None) -> dict[str, Any]: ...
    def register_option(
        self,
        section: str,
        key: str,
        default: Any,
        help_msg: str,
        key_type: Callable[[Any], Any] = ...,
        parser: Any = None,
        positional_arg: bool = False,
        short_arg: str | None = None,
        long_arg: str | None = None,
        choices: Any = None,
        nargs: Any = None,
        metavar: str | None = None,
        required: bool = False,
        action: str | None = None,
        allow_multiple: bool = False,
    ) -> None: ...
    def add_argparser_to_option(
        self,
        namespace: str,
        parser: Any,
        long_arg: str | None = None,
        short_arg: str | None = None,
        positional_arg: bool = False,
        choices: Any = None,
        nargs: Any = None,
        metavar: str | None = None,
        required: bool | None = None,
        action: str | None = None,
        allow_multiple: bool = False,
        argparse_type: Callable[[str], Any] | None = None,
        help_msg: str | None = None,
    ) -> None: ...

settings: Settings
