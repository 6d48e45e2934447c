from collections.abc import Iterable

from avocado.core.nrunner.runnable import Runnable
from avocado.core.resolver import ReferenceResolution

def filter_tags_on_runnables(
    resolutions: Iterable[ReferenceResolution],
    filter_by_tags: list[str],
    include_empty: bool = False,
    include_empty_key: bool = False,
) -> list[Runnable]: ...
