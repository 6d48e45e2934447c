from collections.abc import Callable
from typing import Any

class RemoteError(Exception): ...

# The session returned is an aexpect ShellSession (is_alive(), close(), cmd_status_output()).
def remote_login(
    client: str,
    host: str,
    port: int | str,
    username: str,
    password: str,
    prompt: str,
    linesep: str = "\n",
    log_filename: str | None = None,
    log_function: Callable[..., Any] | None = None,
    timeout: float = 10,
    interface: str | None = None,
    identity_file: str | None = None,
    status_test_command: str = "echo $?",
    verbose: bool = False,
    bind_ip: str | None = None,
    preferred_authentication: str = "password",
    user_known_hosts_file: str = "/dev/null",
    extra_cmdline: str = "",
) -> Any: ...
