"""``--shard i/n``: a deterministic slice of the matrix, so CI can fan out over machines.

Cases are dealt by a stable hash of their name, not by position, so adding a scenario moves
few others between shards, and the n shards together are exactly the whole matrix.

Without ``--shard``, a GitLab ``parallel:`` job says which slice it is in
``CI_NODE_INDEX`` (1-based) and ``CI_NODE_TOTAL``; ``choose_shard`` reads them (from a
mapping it is given, so it stays pure) and says where the shard came from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import UsageError
from harness.printable import printable

# CI fans a matrix out over a handful of machines; a shard count past this is a typo (and
# `report` lists the missing shards of a set, so n also bounds that list).
MAX_SHARDS = 1000

CI_INDEX = "CI_NODE_INDEX"
CI_TOTAL = "CI_NODE_TOTAL"


@dataclass(frozen=True)
class Shard:
    """The slice a run takes, and why (for the run's header)."""

    index: int
    count: int
    source: str

    @property
    def text(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]{1,4})/([0-9]{1,4})", text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)) <= MAX_SHARDS:
        raise UsageError(f"--shard {printable(text[:40])!r}: expected i/n with "
                         f"1 <= i <= n <= {MAX_SHARDS}, e.g. 2/3")
    return int(match.group(1)), int(match.group(2))


def in_shard(name: str, index: int, count: int) -> bool:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == index - 1


def _ci_number(environ: Mapping[str, str], name: str) -> int:
    text = environ[name]
    # ASCII digits only: int() would also take " 2", "+2" and other scripts' digits.
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_SHARDS:
        raise UsageError(f"{name}='{printable(text[:40])}': expected a whole number from "
                         f"1 to {MAX_SHARDS} (GitLab sets it in a `parallel:` job)")
    return int(text)


def shard_from_ci(environ: Mapping[str, str]) -> Shard | None:
    """The shard a GitLab ``parallel:`` job is, or None outside one.

    GitLab sets ``CI_NODE_TOTAL=1`` (and no index) in a job without ``parallel:``: the
    whole matrix. An empty variable counts as unset, as in a shell's ``VAR=`` line.
    """
    has_index, has_total = bool(environ.get(CI_INDEX)), bool(environ.get(CI_TOTAL))
    if not has_index and not has_total:
        return None
    if not has_total:
        raise UsageError(f"{CI_INDEX} is set but {CI_TOTAL} is not: set both (a GitLab "
                         "`parallel:` job does) or pass --shard I/N")
    total = _ci_number(environ, CI_TOTAL)
    if not has_index:
        if total == 1:
            return None
        raise UsageError(f"{CI_TOTAL}={total} but {CI_INDEX} is not set: set both (a GitLab "
                         "`parallel:` job does) or pass --shard I/N")
    index = _ci_number(environ, CI_INDEX)
    if index > total:
        raise UsageError(f"{CI_INDEX}={index} is past {CI_TOTAL}={total} (GitLab counts "
                         "its parallel jobs from 1)")
    return Shard(index, total, f"from {CI_INDEX}={index} and {CI_TOTAL}={total}")


def choose_shard(option: str | None, environ: Mapping[str, str]) -> Shard | None:
    """``--shard`` when given (it wins over the environment), else a GitLab ``parallel:``
    job's, else None: the whole matrix. Either is checked: a ``UsageError`` names the
    option or the variable at fault."""
    if option is not None:
        index, count = parse_shard(option)
        return Shard(index, count, "from --shard")
    return shard_from_ci(environ)
