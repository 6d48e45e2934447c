"""Keep a real review run as a golden, or re-render the goldens after a deliberate change.

    .venv/bin/python tests/data/review/refresh.py keep RUN_DIR NAME   # a run's inputs + mail
    .venv/bin/python tests/data/review/refresh.py render              # every golden again

``keep`` copies ``review-inputs.json`` and ``review.txt`` of a ``pmu-harness review`` run
directory into ``tests/data/review/NAME/``; ``render`` re-assembles each golden's
``review.txt`` from its inputs (after a change to the judging, the analysis or the mail:
read the diff before committing it).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from harness.review.assemble import assemble
from harness.review.inputs import inputs_from_json
from harness.review.mail import render_mail

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == "keep":
        target = HERE / argv[3]
        target.mkdir(exist_ok=True)
        for name in ("review-inputs.json", "review.txt"):
            shutil.copyfile(Path(argv[2]) / name, target / name)
        return 0
    if len(argv) == 2 and argv[1] == "render":
        for inputs in sorted(HERE.glob("*/review-inputs.json")):
            review = assemble(inputs_from_json(json.loads(inputs.read_text())))
            (inputs.parent / "review.txt").write_text(render_mail(review))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
