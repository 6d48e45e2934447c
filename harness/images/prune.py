"""Which cached image sets a long-lived CI host no longer needs.

Every change to a kernel package, the userspace layer or the image recipe gives a new cache
entry (150-300 MB); nothing ever deletes the old ones. Pruning keeps the newest few of each
kernel profile (and, for a kernel built from source, of each series line-up: a mutant or a
``--series`` build never pushes out the profile's own sets): the ones runs use now, and the
one before, for a rerun of last night's bundles (a bundle whose images are gone is rebuilt
and checked by hash).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from harness.images.model import ImageSet


def _created(image_set: ImageSet) -> str:
    # ISO 8601 UTC strings sort in time order; a set without a date sorts as the oldest.
    return str(image_set.manifest.get("created", ""))


def _line(image_set: ImageSet) -> tuple[str, tuple[str, ...]]:
    """What is kept N of: a kernel profile with one series line-up (a source kernel built
    with a mutant or ``--series`` must never push out the profile's own image sets)."""
    build = image_set.build or {}
    series = build.get("series", [])
    names = tuple(str(s.get("name", "?")) for s in series if isinstance(s, dict)) \
        if isinstance(series, list) else ()
    return image_set.kernel_profile, names


def stale_image_sets(sets: Iterable[ImageSet], keep: int) -> list[ImageSet]:
    """All but the ``keep`` newest sets of each kernel profile and series line-up, oldest
    first."""
    by_profile: dict[tuple[str, tuple[str, ...]], list[ImageSet]] = defaultdict(list)
    for image_set in sets:
        by_profile[_line(image_set)].append(image_set)
    stale: list[ImageSet] = []
    for members in by_profile.values():
        newest_first = sorted(members, key=_created, reverse=True)
        stale += newest_first[max(keep, 0):]
    return sorted(stale, key=_created)
