"""The avocado front end: ``avocado run testcases/`` runs the scenarios as avocado tests.

A thin adapter over the core (``harness.scenario``, ``harness.runner``, ``harness.session``);
the only package of ``harness`` that imports avocado, so the core and ``pmu-harness`` work
without it. Three plugins and a runner, wired up by entry points in ``pyproject.toml``:

- ``options``: the ``pmu_harness.*`` settings and the ``--pmu-*`` options of ``avocado run``
  and ``avocado list`` (which kernels, machines and modes; the per-test timeout);
- ``resolver``: a scenario file (or a directory of them, which avocado walks) becomes one
  runnable of kind ``pmu-harness`` per applicable scenario x machine x kernel x mode;
- ``runner``: runs one such runnable, one case in its own L1, and maps the verdict onto
  avocado's result (``avocado-runner-pmu-harness``, the command avocado's spawner starts).
- ``spawner``: ``--spawner pmu-remote``, avocado's remote spawner (tests on SSH hosts)
  with hosts that may die mid-job: their tests become errors, the job goes on and ends;
- ``sessions``: a job-post plugin that closes the remote spawner's SSH sessions.

``matrix`` (no avocado inside) turns scenarios and the chosen matrix into those tests.
"""

#: The runnable kind, and the name of every plugin and of the runner command.
KIND = "pmu-harness"
