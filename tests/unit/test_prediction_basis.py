"""Which prediction a source-built kernel gets: the profile's revision, --revision, or the
tree's version rules when the user adds a series the harness does not know."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.images.kinds import load_profile
from harness.images.kinds.source import predicted_revision
from harness.images.profiles import SourceOverrides

MBOX = (Path("/tmp/v3.mbx"),)


def test_a_profile_revision_predicts_its_own_series() -> None:
    assert predicted_revision(load_profile("filter-v3"), SourceOverrides()) == (
        "v3", "revision v3 (profile filter-v3)")


def test_a_series_added_to_a_revision_profile_is_judged_by_the_version_rules() -> None:
    # The new user's case: the posted v3 as an mbox on filter-base was predicted "no FILTER"
    # (base) and reported broken. It is now the tree's documented API, and says why.
    revision, why = predicted_revision(load_profile("filter-base"), SourceOverrides(series=MBOX))
    assert revision is None
    assert why.startswith("the tree's version rules: --series added a series, so the "
                          "profile's revision base no longer describes the kernel")


def test_revision_names_what_the_series_carries() -> None:
    assert predicted_revision(load_profile("filter-base"),
                              SourceOverrides(series=MBOX, revision="v2")) == (
        "v2", "revision v2 (--revision)")
    assert predicted_revision(load_profile("source-6.12"), SourceOverrides()) == (
        None, "the tree's version rules (no revision of the series named)")


def test_an_unknown_revision_is_a_usage_error_with_close_matches() -> None:
    with pytest.raises(UsageError, match=r"--revision: unknown series revision 'v4'.*"
                                         r"known: base, v1, v2, v3, v3-fixes"):
        predicted_revision(load_profile("filter-base"), SourceOverrides(revision="v4"))
