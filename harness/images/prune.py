"""Which cached image sets a long-lived CI host no longer needs.

Every change to a kernel package, the userspace layer or the image recipe gives a new cache
entry (150-300 MB); nothing ever deletes the old ones. Pruning keeps the newest few of each
kernel profile: the ones runs use now, and the one before, for a rerun of last night's
bundles (a bundle whose images are gone is rebuilt and checked by hash).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from harness.images.model import ImageSet


def _created(image_set: ImageSet) -> str:
    # ISO 8601 UTC strings sort in time order; a set without a date sorts as the oldest.
    return str(image_set.manifest.get("created", ""))


def stale_image_sets(sets: Iterable[ImageSet], keep: int) -> list[ImageSet]:
    """All but the ``keep`` newest sets of each kernel profile, oldest first."""
    by_profile: dict[str, list[ImageSet]] = defaultdict(list)
    for image_set in sets:
        by_profile[image_set.kernel_profile].append(image_set)
    stale: list[ImageSet] = []
    for members in by_profile.values():
        newest_first = sorted(members, key=_created, reverse=True)
        stale += newest_first[max(keep, 0):]
    return sorted(stale, key=_created)
