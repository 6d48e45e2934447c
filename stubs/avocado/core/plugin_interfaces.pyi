import abc
from typing import Any

from avocado.core.resolver import ReferenceResolution

class Plugin(abc.ABC): ...

class Init(Plugin):
    @abc.abstractmethod
    def initialize(self) -> None: ...

class CLI(Plugin):
    @abc.abstractmethod
    def configure(self, parser: Any) -> None: ...
    @abc.abstractmethod
    def run(self, config: Any) -> None: ...

class JobPost(Plugin):
    @abc.abstractmethod
    def post(self, job: Any) -> None: ...

class Resolver(Plugin):
    # A job's settings by namespace ("pmu_harness.kernels": [...]); avocado's own when None.
    config: dict[str, Any]
    def __init__(self, config: dict[str, Any] | None = None) -> None: ...
    @abc.abstractmethod
    def resolve(self, reference: str) -> ReferenceResolution: ...
