"""``pmu-harness review``: one command from a patch series to a reviewer's report.

The series is built on its base (and, with ``--against``, an earlier revision of it is
too), every scenario runs on each kernel, and what each kernel's guests showed is judged
again, offline, against the documented API of the tree's version: per *behaviour* (a
kernel rule whose presence or absence explains a check, or the family of the check when
no rule does), what the series changes against its base, against the API, and against
the earlier revision. ``judging`` and ``analysis`` are pure (golden-tested from real
runs); ``session`` builds and runs; ``mail`` and ``page`` write the reports.
"""
