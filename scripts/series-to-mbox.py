#!/usr/bin/env python3
"""Write one of our kernel-patches/ series as an mbox, the way `b4 am` hands a posted series
to a reviewer: a cover letter with the posting's Message-ID (series.yaml `message_id`),
then each patch answering it (In-Reply-To, References). Used to feed our ports of the
posted revisions to `pmu-harness review`, exactly as a series from the list would be.

    scripts/series-to-mbox.py kernel-patches/pmu-filter-v3 > /tmp/v3.mbx
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[1]).is_dir():
        print("usage: series-to-mbox.py kernel-patches/<series>", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    meta = yaml.safe_load((directory / "series.yaml").read_text()) or {}
    patches = sorted(directory.glob("*.patch"))
    cover_id = str(meta.get("message_id", "")).split()[0] if meta.get("message_id") else ""
    revision = meta.get("revision", "")
    tag = f"PATCH {revision} " if revision and revision != "v1" else "PATCH "
    out = sys.stdout
    if cover_id:
        out.write(f"From pmu-harness Mon Sep 17 00:00:00 2001\n"
                  f"From: pmu-harness <pmu-harness@localhost>\n"
                  f"Subject: [{tag}0/{len(patches)}] KVM: arm64: Filtering PMU events\n"
                  f"Message-ID: <{cover_id}>\n\n"
                  f"Our port of the posted series {meta.get('name', directory.name)} "
                  f"({meta.get('posted', '?')}), as an mbox.\n\n")
    for number, patch in enumerate(patches, 1):
        text = patch.read_text()
        head, _, body = text.partition("\n\n")
        if cover_id:
            # The posted patch's own id where series.yaml records it (posted_patches).
            posted = meta.get("posted_patches") or []
            ids = re.findall(r"<([^<>\s]+)>", str(posted[number - 1])) \
                if number <= len(posted) else []
            own = ids[0] if ids else f"{number}.{cover_id}"
            head += (f"\nMessage-ID: <{own}>\nIn-Reply-To: <{cover_id}>\n"
                     f"References: <{cover_id}>")
        out.write(head + "\n\n" + body)
        if not body.endswith("\n"):
            out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
