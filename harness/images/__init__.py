"""Guest images: kernels from Debian packages (or a local Image), the L1 userspace, L2.

Public API (used by the machine layer)::

    build_image_set("debian-6.1") -> ImageSet      # cached; verified; rebuilt if damaged
    list_image_sets() -> list[ImageSet]
    verify_image_set(image_set) -> list[str]       # problems, empty when good
"""

from harness.images.build import build_image_set, list_image_sets, verify_image_set
from harness.images.model import ImageSet

__all__ = ["ImageSet", "build_image_set", "list_image_sets", "verify_image_set"]
