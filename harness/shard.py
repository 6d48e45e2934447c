"""``--shard i/n``: a deterministic slice of the matrix, so CI can fan out over machines.

Cases are dealt by a stable hash of their name, not by position, so adding a scenario moves
few others between shards, and the n shards together are exactly the whole matrix.
"""

from __future__ import annotations

import hashlib
import re

from harness.errors import UsageError
from harness.printable import printable

# CI fans a matrix out over a handful of machines; a shard count past this is a typo (and
# `report` lists the missing shards of a set, so n also bounds that list).
MAX_SHARDS = 1000


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]{1,4})/([0-9]{1,4})", text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)) <= MAX_SHARDS:
        raise UsageError(f"--shard {printable(text[:40])!r}: expected i/n with "
                         f"1 <= i <= n <= {MAX_SHARDS}, e.g. 2/3")
    return int(match.group(1)), int(match.group(2))


def in_shard(name: str, index: int, count: int) -> bool:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1
