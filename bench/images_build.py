"""Image-set build times: cold (empty cache, downloads included), then cache hits.

    .venv/bin/python bench/images_build.py [--cache DIR] [--kernel debian-6.1 ...]

The first profile pays for the shared L1 userspace; later ones only for their kernel.
Results from a run are recorded in bench/images_results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROFILES = ["debian-6.1", "debian-5.10", "debian-6.12", "debian-latest"]
TIMEOUT = 1800


def timed_build(profile: str, cache: Path) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "harness.cli", "images", "build", "--quiet",
                    "--kernel", profile], env=env, check=True, timeout=TIMEOUT,
                   stdout=subprocess.DEVNULL)
    return round(time.monotonic() - started, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, help="cache root (default: a fresh temp dir)")
    parser.add_argument("--kernel", action="append", help="profiles (default: all four)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="pmu-images-bench-"))
    results = {}
    for profile in args.kernel or PROFILES:
        cold = timed_build(profile, cache)
        hits = [timed_build(profile, cache) for _ in range(3)]
        results[profile] = {"first_build_s": cold, "cache_hit_s": hits}
        print(json.dumps({profile: results[profile]}), flush=True)
    print(json.dumps({"cache": str(cache), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
