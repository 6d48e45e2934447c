"""Kernel health: the splats and stalls in a piece of L1's kernel log.

``scan(text)`` reads what L1's kernel printed while a case ran (console text as QEMU saved
it: CRLF line ends, maybe ``[   12.345678]`` timestamps, maybe ANSI escapes, with the
harness's own lines such as ``pmu-harness: ...`` mixed in) and sorts every kernel report it
finds into one of two lists:

- ``splats``: the kernel misbehaved; the case must fail, whatever its checks say.
- ``stalls``: something was slow; reported with the result, never failed on.

``since(log, offset)`` cuts the piece a case added out of a growing console log. The module
is pure: it reads only what it is given, and it never raises, whatever the text holds.

Reports
-------
A report is one headline line plus the lines the kernel printed with it, grouped so that
one bug gives one entry, not thirty. The headline is matched at the start of a line, after
removing escapes, carriage returns, a ``<N>`` level, a ``[ seconds.micro]`` timestamp (and a
``[T123]``/``[C1]`` caller id) or a ``dmesg -T`` date. Headlines (and their ``kind``):

========================= ================================================================
splat kind                headline
========================= ================================================================
``kasan``                 ``BUG: KASAN: ...`` (also ``kfence``: ``BUG: KFENCE:``, ``kcsan``:
                          ``BUG: KCSAN:``)
``ubsan``                 ``UBSAN: ...``
``warning``               ``WARNING: CPU: N PID: N at ...`` (WARN, WARN_ON), old ``WARNING: at``
``lockdep``               ``WARNING: possible circular locking dependency detected``,
                          ``... recursive locking``, ``inconsistent lock state``, ``suspicious
                          RCU usage``, ``bad unlock balance``, ``held lock freed``, ``lock held
                          when returning to user space`` (as ``WARNING:`` or ``BUG:``),
                          ``[ BUG: Invalid wait context ]``, ``BUG: MAX_LOCKDEP_...``,
                          ``INFO: trying to register non-static key``,
                          ``DEBUG_LOCKS_WARN_ON(...)``, and any other ``WARNING:`` line right
                          under a ``====`` ruler (every lockdep report opens that way)
``oops``                  ``Unable to handle kernel ...``, ``Internal error: ...``, ``BUG:
                          unable to handle ...``, ``BUG: kernel NULL pointer dereference``,
                          ``Bad mode in ... handler``, ``SError Interrupt on CPU``
``bug``                   ``kernel BUG at FILE:LINE!`` and every other ``BUG:`` line
                          (``scheduling while atomic``, ``sleeping function called from
                          invalid context``, ``Bad page state``, ...)
``panic``                 ``Kernel panic - not syncing: ...``
``list-corruption``       ``list_add corruption``, ``list_del corruption``, ``list_add double
                          add``
``refcount``              ``refcount_t: ...``
``kmemleak``              ``unreferenced object 0x...``, ``kmemleak: N new suspected memory
                          leaks``
========================= ================================================================

========================= ================================================================
stall kind                headline
========================= ================================================================
``soft-lockup``           ``watchdog: BUG: soft lockup - CPU#N stuck for Ns! [comm:pid]``
``hard-lockup``           ``Watchdog detected hard LOCKUP on cpu N``
``rcu-stall``             ``rcu: INFO: rcu_sched self-detected stall on CPU``, ``rcu: INFO:
                          rcu_preempt detected stalls on CPUs/tasks:``, ``... detected
                          expedited stalls``, ``rcu_tasks detected stalls``, ``rcu: rcu_sched
                          kthread starved for N jiffies!``
``hung-task``             ``INFO: task comm:pid blocked for more than N seconds.``
``workqueue-lockup``      ``BUG: workqueue lockup - pool ... stuck for Ns!``
``hrtimer``               ``hrtimer: interrupt took N ns``
``rt-throttling``         ``sched: RT throttling activated``
``clocksource``           ``clocksource: timekeeping watchdog on CPUn: ...``, ``clocksource:
                          Long readout interval, skipping watchdog check``, ``Checking
                          clocksource ... synchronization``, ``Marking ... unstable due to
                          clocksource watchdog``
========================= ================================================================

``watchdog: BUG: soft lockup`` and ``BUG: workqueue lockup`` read like ``BUG:`` lines but are
watchdogs timing a CPU, not assertions: they are matched before the ``BUG:`` rule and are
stalls. A ``WARNING:`` line that is neither a WARN (``CPU:``/``at``) nor a lockdep report is a
plain message (arm64 prints ``WARNING: Unprivileged eBPF is enabled ...`` at boot) and is
ignored, as is anything not at the start of a line (``Kernel command line: ... oops=panic``,
``cacheinfo: Unable to detect cache hierarchy``).

How far a report goes:

- KASAN, KFENCE, KCSAN and UBSAN reports sit between two ``====`` rulers: they end at the
  closing ruler.
- The others end after their stack dump: at ``---[ end trace ...]---`` (or ``---[ end Kernel
  panic ...]---``), or at the first line after a ``Call trace:`` that does not continue a
  dump (frames, registers, ``CPU:``, ``Hardware name:``, ``Task dump for CPU``, ``NMI
  backtrace``, ``rcu:`` lines, indented lines, ``Code:``, ...). Before its ``Call trace:``,
  a report takes every line (a lockdep report prints dozens of free-form lines first).
- The one-line kinds (``hrtimer``, ``rt-throttling``, ``clocksource``, ``kmemleak``,
  ``workqueue-lockup``) take only the indented lines after them (and their own details).
- Any report ends where another headline, a ``[ cut here ]`` marker or a ``====`` ruler
  starts, and after 400 lines at most.

Some headlines belong to the report already open, because one event prints them in turn:
the ``WARNING: CPU:`` (or ``kernel BUG at``) line after the message a WARN printed
(``refcount_t: underflow``, ``list_add corruption``, ``DEBUG_LOCKS_WARN_ON``); the
``Internal error: Oops`` after ``Unable to handle kernel`` or ``kernel BUG at``; an RCU
stall's ``kthread starved`` lines; and a ``Kernel panic - not syncing`` that comes while a
report is open or within 10 lines of its end (with ``oops=panic`` on L1's command line, every
Oops ends in one). A message a WARN printed between ``[ cut here ]`` and its ``WARNING:``
line opens the excerpt.

Splat or stall
--------------
Every report of a splat kind is fatal. A stall is emulation load, and only reported, unless
one of these holds (then it is fatal, and listed with the splats under its own stall kind,
with ``reason`` saying which rule):

1. its backtrace (``pc :``, ``lr :`` and every frame of the report) names a function of the
   filter code: the functions base, v1-v3 and 9529aaa056ed add or change to keep or consult
   the filter (``FILTER_FUNCTIONS``). A CPU stuck in there is what a filter bug looks like
   (a loop over a bad range, a lock never released); TCG slowness lands in the vCPU run loop
   and the timer code, which are not on the list (the per-exit PMU hooks are left off it on
   purpose: every KVM_RUN passes through them);
2. it follows a splat, or a stall already found fatal, in the same text: a CPU that died in
   an Oops or deadlocked holding a lock stalls the others, so the stall is the bug's
   consequence, not load;
3. a lockup that says how long it lasted (``stuck for Ns``: soft lockups, workqueue
   lockups) lasted more than ``LOCKUP_LOAD_LIMIT_S`` (60 s, three times the 20 s soft-lockup
   threshold). Load delays a CPU; a vCPU thread starved for a whole minute would also have
   missed the harness's own deadlines (10 s SSH connect, 30 s for most L1 commands). The
   limit is a judgement, not a measurement: no real lockup has been seen here yet. The
   watchdog repeats its report every ~20 s while a CPU stays stuck; newer kernels (since
   "watchdog/softlockup: report the overall time of softlockups") give the total, so a real
   hang crosses the limit, while 5.10 gives the time since the previous report (about 22 s),
   so there only a watchdog itself delayed that long crosses it and rules 1 and 2 do the
   work;
4. it ends in a kernel panic (``softlockup_panic``, ``hung_task_panic``): L1 is dead.

Rules 1 to 3 apply to the stalls that mean a CPU or a task made no progress (soft and hard
lockups, RCU stalls, hung tasks, workqueue lockups). ``hrtimer: interrupt took``, ``RT
throttling`` and clocksource watchdog messages mean only that time passed oddly, which is
what TCG does; they are never escalated. RCU stalls have no duration rule: they count in
jiffies of a HZ the log does not state. A hung task is reported after 120 s by construction,
so only rules 1, 2 and 4 decide it.

Golden logs captured from real runs are in ``tests/data/kernel-logs``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from harness.printable import printable


class Kind(StrEnum):
    """What a report is; equal to its string value ("kasan", "soft-lockup", ...)."""

    KASAN = "kasan"
    KFENCE = "kfence"
    KCSAN = "kcsan"
    UBSAN = "ubsan"
    WARNING = "warning"
    LOCKDEP = "lockdep"
    OOPS = "oops"
    BUG = "bug"
    PANIC = "panic"
    LIST_CORRUPTION = "list-corruption"
    REFCOUNT = "refcount"
    KMEMLEAK = "kmemleak"
    SOFT_LOCKUP = "soft-lockup"
    HARD_LOCKUP = "hard-lockup"
    RCU_STALL = "rcu-stall"
    HUNG_TASK = "hung-task"
    WORKQUEUE_LOCKUP = "workqueue-lockup"
    HRTIMER = "hrtimer"
    RT_THROTTLING = "rt-throttling"
    CLOCKSOURCE = "clocksource"


# Stalls that mean a CPU or task made no progress: the escalation rules apply to them.
PROGRESS_STALLS = frozenset({Kind.SOFT_LOCKUP, Kind.HARD_LOCKUP, Kind.RCU_STALL,
                             Kind.HUNG_TASK, Kind.WORKQUEUE_LOCKUP})
# Stalls that only say time passed oddly: always load.
SLOWNESS = frozenset({Kind.HRTIMER, Kind.RT_THROTTLING, Kind.CLOCKSOURCE})
STALLS = PROGRESS_STALLS | SLOWNESS

# The filter code: the functions the filter series (base, v1-v3, the 9529aaa056ed fix) add or
# change to keep or consult the filter, under 5.10 and upstream names alike. A compiler may
# inline kvm_pmu_set_event_filter into kvm_arm_pmu_v3_set_attr (the WARN golden shows it).
FILTER_FUNCTIONS = frozenset({
    "kvm_pmu_set_event_filter", "kvm_arm_pmu_v3_set_attr", "kvm_pmu_event_is_allowed",
    "kvm_pmu_create_perf_event", "kvm_pmu_get_pmceid", "kvm_pmu_filter_bits32",
    "kvm_pmu_event_mask", "kvm_pmu_probe_pmuver", "access_pmceid",
})

LOCKUP_LOAD_LIMIT_S = 60
EXCERPT_LINES = 12
# printk lines are at most 1 KiB; anything longer is not one kernel line, and cutting it
# keeps every regular expression below working on a bounded string (linear time overall).
MAX_LINE = 4096
MAX_SHOWN = 240
REPORT_CAP = 400
PANIC_WINDOW = 10
MAX_FRAMES = 256
# How many lines a WARN may print between "[ cut here ]" and its WARNING line.
CUT_MESSAGE_LINES = 4


@dataclass(frozen=True)
class Splat:
    """One kernel report. ``first_line`` is the 1-based line of the headline in the text
    given to ``scan`` (the line ``title`` is), ``last_line`` the report's last non-blank line.
    ``excerpt`` is its first lines, cleaned (no timestamps, escapes or register dumps).
    ``fatal`` says whether it fails the case; ``reason`` why a stall is fatal or load."""

    kind: Kind
    first_line: int
    last_line: int
    title: str
    excerpt: tuple[str, ...]
    fatal: bool
    reason: str = ""


@dataclass(frozen=True)
class HealthReport:
    """``splats``: fatal reports, in log order; ``stalls``: load, reported only."""

    splats: tuple[Splat, ...] = ()
    stalls: tuple[Splat, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.splats

    def summary(self) -> str:
        """One line for a case's reason: the first splat's title, and how many more."""
        if self.splats:
            more = len(self.splats) - 1
            return self.splats[0].title + (f" (+{more} more)" if more else "")
        if self.stalls:
            count = len(self.stalls)
            noun = "stall" if count == 1 else "stalls"
            return f"no splat; {count} load {noun}: {self.stalls[0].title}"
        return "no splat"


# Reports after which L1's own checkers are off for the rest of its boot: KASAN, KFENCE and
# KCSAN report only their first bug (no ``kasan_multi_shot`` on L1's command line), and
# KASAN's and UBSAN's reports taint the kernel in the way that turns lockdep off; lockdep
# turns itself off after its first report; an Oops or panic leaves a kernel nothing can
# trust. A WARN taints too, but keeps lockdep on (``LOCKDEP_STILL_OK``) and touches no other
# checker: the next case may share its L1.
BLINDING = frozenset({Kind.KASAN, Kind.KFENCE, Kind.KCSAN, Kind.UBSAN, Kind.LOCKDEP,
                      Kind.OOPS, Kind.PANIC})
# What the kernel prints when a taint turns lockdep off, whatever the report was (an
# Oops's TAINT_DIE, a "Bad page state", ...).
_LOCKDEP_OFF = re.compile(r"Disabling lock debugging due to kernel taint")


def checks_turned_off(report: HealthReport, text: str) -> str:
    """Why L1's debug checks can no longer be trusted after the case whose log is ``text``
    (``report`` is ``scan(text)``): the first blinding report, or the kernel's own "lock
    debugging disabled" line; empty when they are still on."""
    for splat in report.splats:
        if splat.kind in BLINDING:
            return (f"{splat.kind} report ({splat.title}): the kernel's checkers are off "
                    "for the rest of this boot")
    if _LOCKDEP_OFF.search(text):
        return "the kernel turned lock debugging off (a taint)"
    return ""


def since(log: str | bytes, offset: int) -> str:
    """What a growing log gained after ``offset`` (its length, in the same units, when the
    case began), from the start of the line that holds ``offset``: a line cut by the offset
    is read by both pieces, better twice than never. An offset past the end means the log
    was replaced (a new boot): all of it is new. Bytes are decoded as UTF-8, bad bytes
    replaced."""
    start = max(offset, 0)
    if isinstance(log, bytes):
        start = 0 if start > len(log) else log.rfind(b"\n", 0, start) + 1
        return log[start:].decode("utf-8", errors="replace")
    start = 0 if start > len(log) else log.rfind("\n", 0, start) + 1
    return log[start:]


def scan(text: str) -> HealthReport:
    """Every splat and stall in ``text``; never raises."""
    scanner = _Scanner()
    number, pos, end = 1, 0, len(text)
    while pos <= end:
        if scanner.idle:
            # Nothing open: jump to the next line that could matter, counting the lines
            # passed (in C: most of a log is passed over this way).
            hint = _HINT.search(text, pos)
            if hint is None:
                break
            newline = text.rfind("\n", pos, hint.start())
            if newline >= 0:
                number += text.count("\n", pos, newline + 1)
                pos, scanner.prev_ruler = newline + 1, False
        stop = text.find("\n", pos)
        stop = end if stop < 0 else stop
        scanner.feed(number, text[pos:stop])
        pos, number = stop + 1, number + 1
    return scanner.finish()


# ----------------------------------------------------------------------------------------
# Cleaning a line


_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_STAMP = re.compile(
    r"(?:<\d{1,3}>)?"
    r"(?:\[ {0,12}\d{1,12}\.\d{1,9}\](?:\[ {0,8}[TC]\d{1,9}\])? ?"
    r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] ?)?"
)
# Anything that can start a report or matters while none is open. While no report is open,
# the lines up to the next one holding any of these are passed over unread (most of a log).
_HINT = re.compile(
    r"BUG|WARN|UBSAN|INFO:|LOCKUP|lockup|hrtimer|throttling|clocksource|Unable to handle"
    r"|Internal error|Oops|Kernel panic|list_|refcount_t|unreferenced object|kmemleak"
    r"|cut here|=====|SError|Bad mode|kthread|general protection"
)


def _clean(raw: str) -> str:
    line = raw[:MAX_LINE]
    if "\x1b" in line:
        line = _ESCAPE.sub("", line)
    if not line.isprintable():
        line = _CONTROL.sub("", line)
    stamp = _STAMP.match(line) if line[:1] in ("[", "<") else None
    return line[stamp.end():] if stamp else line


def _shown(line: str) -> str:
    """A line as it may appear in a reason: tabs expanded, controls escaped, cut short."""
    text = printable(line.expandtabs(4).rstrip())
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


# ----------------------------------------------------------------------------------------
# Headlines


class _Role(Enum):
    OPEN = "open"  # starts a report
    WARN_LINE = "warn-line"  # the WARNING/kernel BUG line a WARN or BUG message leads to
    OOPS_LINE = "oops-line"  # "Internal error: Oops" after "Unable to handle kernel"
    RCU_MORE = "rcu-more"  # more of an RCU stall report
    PANIC = "panic"  # a panic: joins the report that caused it
    MAYBE_LOCKDEP = "maybe-lockdep"  # a WARNING: line; lockdep only under a ruler


@dataclass(frozen=True)
class _Head:
    kind: Kind
    role: _Role = _Role.OPEN
    oops_next: bool = False  # an "Internal error: Oops" follows this headline
    # The kernel is going down: while L1 boots, this line means it will never come up
    # (``first_dying_line``; harness.machine.console acts on it at once).
    dying: bool = False


_LOCKDEP_WARNINGS = (
    r"possible circular locking|possible recursive locking|inconsistent lock state"
    r"|suspicious RCU usage|possible irq lock inversion|\S{1,40}-safe -> \S{1,40}-unsafe"
    r"|bad unlock balance|held lock freed|lock held when returning|Nested lock was not taken"
    r"|bad contention detected|chain_key collision|\S{1,64}/\d{1,9} still has locks held"
    r"|circular locking deadlock"
)
_LOCKDEP_BUGS = (
    r"lock held when returning|MAX_LOCKDEP|MAX_STACK_TRACE|looking up invalid subclass"
    r"|key |bad unlock balance|held lock freed|Invalid wait context|Nested lock"
)

# Order matters: the first that matches wins (KASAN before BUG:, soft lockup before BUG:).
_HEADS: tuple[tuple[str, _Head], ...] = (
    (r"BUG: KASAN: ", _Head(Kind.KASAN)),
    (r"BUG: KFENCE: ", _Head(Kind.KFENCE)),
    (r"BUG: KCSAN: ", _Head(Kind.KCSAN)),
    (r"UBSAN: ", _Head(Kind.UBSAN)),
    (r"(?:watchdog: )?BUG: soft lockup", _Head(Kind.SOFT_LOCKUP)),
    (r"BUG: workqueue lockup", _Head(Kind.WORKQUEUE_LOCKUP)),
    (r"(?:NMI watchdog: |watchdog: )?Watchdog detected hard LOCKUP", _Head(Kind.HARD_LOCKUP)),
    (r"(?:rcu: )?INFO: \S{1,64} (?:self-detected stall|detected (?:expedited )?stalls)",
     _Head(Kind.RCU_STALL)),
    (r"(?:rcu: )?\S{1,64} kthread (?:starved for|timer wakeup didn't happen)",
     _Head(Kind.RCU_STALL, _Role.RCU_MORE)),
    (r"INFO: task .{1,200}? blocked for more than \d{1,9} seconds", _Head(Kind.HUNG_TASK)),
    (r"hrtimer: interrupt took \d{1,19} ns", _Head(Kind.HRTIMER)),
    (r"sched: RT throttling activated", _Head(Kind.RT_THROTTLING)),
    (r"clocksource: (?:timekeeping watchdog on CPU|Long readout interval"
     r"|Checking clocksource \S{1,64} synchronization|wd-\S{1,64}-wd )",
     _Head(Kind.CLOCKSOURCE)),
    (r"(?:\w{1,32}: )?Marking \S{1,64} unstable due to clocksource watchdog",
     _Head(Kind.CLOCKSOURCE)),
    (rf"(?:\[ )?BUG: (?:{_LOCKDEP_BUGS})", _Head(Kind.LOCKDEP)),
    (r"BUG: (?:unable to handle|kernel NULL pointer dereference)",
     _Head(Kind.OOPS, oops_next=True, dying=True)),
    (r"[Kk]ernel BUG at ", _Head(Kind.BUG, _Role.WARN_LINE, oops_next=True, dying=True)),
    (r"(?:\[ )?BUG: ", _Head(Kind.BUG)),
    (r"WARNING: (?:CPU: \d|at )", _Head(Kind.WARNING, _Role.WARN_LINE)),
    (rf"WARNING: (?:{_LOCKDEP_WARNINGS})", _Head(Kind.LOCKDEP)),
    (r"WARNING: ", _Head(Kind.LOCKDEP, _Role.MAYBE_LOCKDEP)),
    (r"INFO: trying to register non-static key|DEBUG_LOCKS_WARN_ON\(", _Head(Kind.LOCKDEP)),
    (r"Unable to handle kernel ", _Head(Kind.OOPS, oops_next=True, dying=True)),
    (r"Internal error: |Oops(?: - [^:]{1,40})?: ",
     _Head(Kind.OOPS, _Role.OOPS_LINE, dying=True)),
    (r"general protection fault|Bad mode in \S{1,32} handler detected"
     r"|SError Interrupt on CPU", _Head(Kind.OOPS, dying=True)),
    (r"Kernel panic - not syncing", _Head(Kind.PANIC, _Role.PANIC, dying=True)),
    (r"list_(?:add|del)(?: corruption| double add)", _Head(Kind.LIST_CORRUPTION)),
    (r"refcount_t: ", _Head(Kind.REFCOUNT)),
    (r"unreferenced object 0x|kmemleak: \d{1,9} new suspected memory leak",
     _Head(Kind.KMEMLEAK)),
)
_HEAD = re.compile("|".join(f"(?P<h{i}>{pattern})" for i, (pattern, _) in enumerate(_HEADS)))
_HEAD_OF = {f"h{i}": head for i, (_, head) in enumerate(_HEADS)}


def _headline(line: str) -> _Head | None:
    match = _HEAD.match(line)
    if match is None or match.lastgroup is None:
        return None
    return _HEAD_OF[match.lastgroup]


# Words every dying headline holds: a log without any is passed over at C speed (a console
# is read again at every poll while L1 boots).
_DYING_HINT = re.compile(r"Unable to handle|Internal error|Oops|BUG|Kernel panic"
                         r"|general protection|Bad mode|SError")


def first_dying_line(lines: Sequence[str]) -> tuple[int, Kind] | None:
    """The index and kind of the first line whose headline means the kernel is going down
    (a panic, an oops, ``kernel BUG at``): the same headlines ``scan`` reads."""
    for index, raw in enumerate(lines):
        if _DYING_HINT.search(raw):
            head = _headline(_clean(raw))
            if head is not None and head.dying:
                return index, head.kind
    return None


def has_dying_hint(text: str) -> bool:
    """Whether ``text`` could hold a dying headline at all (cheap; see ``first_dying_line``)."""
    return _DYING_HINT.search(text) is not None


# ----------------------------------------------------------------------------------------
# Report bodies


class _Shape(Enum):
    RULED = "ruled"  # between two ==== rulers
    TRACED = "traced"  # ends after its stack dump
    LINE = "line"  # the headline and its indented details


_RULED = frozenset({Kind.KASAN, Kind.KFENCE, Kind.KCSAN, Kind.UBSAN})
_LINE = frozenset({Kind.HRTIMER, Kind.RT_THROTTLING, Kind.CLOCKSOURCE, Kind.KMEMLEAK,
                   Kind.WORKQUEUE_LOCKUP})
# Kinds whose message comes before the "[ cut here ]" of the BUG() that follows it
# (CHECK_DATA_CORRUPTION with CONFIG_BUG_ON_DATA_CORRUPTION).
_MESSAGE_FIRST = frozenset({Kind.LIST_CORRUPTION})

_RULER = re.compile(r"={20,}\s*$")
_CUT = re.compile(r"-{3,}\[ cut here \]-{3,}")
_END = re.compile(r"---\[ end ")
_TRACE = re.compile(r"Call [Tt]race:")
_REGISTERS = re.compile(r"x\d{1,2}\s*: ")
# Lines that continue a report after its "Call trace:" (more of the dump, or another dump).
_DUMP = re.compile(
    r"\s|Call [Tt]race:|Code: |Task dump for CPU|task:|NMI backtrace for cpu"
    r"|Sending NMI from CPU|CPU: \d|Hardware name:|Workqueue:|pstate:|pc :|lr :|sp :"
    r"|x\d{1,2}\s*:|Modules linked in:|irq event stamp:|hardirqs last|softirqs last|rcu: "
    r"|</?IRQ>|</?TASK>|Exception stack|SMP: stopping secondary CPUs|Kernel Offset:"
    r"|CPU features: 0x|Memory Limit:|\[<[0-9a-f]{1,16}>\]|[\w.$]{1,128}\+0x[0-9a-f]{1,16}/0x"
)
# The one-line kinds' own details, besides indented lines.
_DETAILS = {
    Kind.CLOCKSOURCE: re.compile(r"clocksource: "),
    Kind.WORKQUEUE_LOCKUP: re.compile(r"Showing busy workqueues|workqueue |pool \d"),
}
_FRAME = re.compile(
    r"\s*(?:\[<[0-9a-f]{1,16}>\]\s*)?(?:(?:pc|lr)\s*:\s*)?([A-Za-z_.$][\w.$]{0,127})"
    r"\+0x[0-9a-f]{1,16}/0x[0-9a-f]{1,16}"
)
_STUCK = re.compile(r".{0,300}?stuck for (\d{1,9})s!")


@dataclass
class _Report:
    """A report being read."""

    head: _Head
    first_line: int
    title: str
    last_line: int
    shape: _Shape
    excerpt: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    in_trace: bool = False  # a "Call trace:" was seen: only dump lines continue it
    after_cut: bool = False  # opened after "[ cut here ]", its WARNING line still to come
    awaits_oops: bool = False  # an "Internal error: Oops" is still to come
    panicked: bool = False
    lines: int = 0

    def add(self, number: int, line: str) -> None:
        if line.strip():  # blank lines after a report are not part of it
            self.last_line = number
        self.lines += 1
        if _TRACE.match(line):
            self.in_trace = True
        frame = _FRAME.match(line)
        if frame and len(self.frames) < MAX_FRAMES:
            self.frames.append(frame.group(1))
        if line.strip() and len(self.excerpt) < EXCERPT_LINES and not _REGISTERS.match(line):
            self.excerpt.append(_shown(line))

    def absorbs(self, head: _Head) -> bool:
        """Whether ``head`` is printed by the same event as this report."""
        if head.role is _Role.PANIC:
            return self.shape is not _Shape.LINE
        if head.role is _Role.WARN_LINE:
            return self.after_cut
        if head.role is _Role.OOPS_LINE:
            return self.awaits_oops
        return head.role is _Role.RCU_MORE and self.head.kind is Kind.RCU_STALL

    def take(self, number: int, line: str, head: _Head) -> None:
        """Add an absorbed headline and what it means for the rest of the report."""
        if head.role is _Role.PANIC:
            self.panicked = True
            self.shape = _Shape.TRACED
            self.in_trace = False  # the panic's own lines follow
        if head.role is _Role.WARN_LINE:
            self.after_cut = False
        if head.role is _Role.OOPS_LINE:
            self.awaits_oops = False
        self.awaits_oops = self.awaits_oops or head.oops_next
        self.add(number, line)

    def continues(self, line: str) -> bool:
        if self.lines >= REPORT_CAP:
            return False
        if self.shape is _Shape.RULED:
            return True
        if self.shape is _Shape.LINE:
            details = _DETAILS.get(self.head.kind)
            return line[:1].isspace() or bool(details and details.match(line))
        return not self.in_trace or (bool(line) and _DUMP.match(line) is not None)


# ----------------------------------------------------------------------------------------
# The scanner


class _Scanner:
    def __init__(self) -> None:
        self.reports: list[_Report] = []
        self.open: _Report | None = None
        self.last_closed: _Report | None = None
        self.cut: list[str] | None = None  # message lines after a "[ cut here ]"
        self.prev_ruler = False

    @property
    def idle(self) -> bool:
        return self.open is None and self.cut is None

    def feed(self, number: int, raw: str) -> None:
        line = _clean(raw)
        ruler = _RULER.match(line) is not None
        if not self._headline(number, line):
            self._other(number, line, ruler)
        self.prev_ruler = ruler

    def _headline(self, number: int, line: str) -> bool:
        head = _headline(line)
        if head is None:
            return False
        if head.role is _Role.MAYBE_LOCKDEP and not self.prev_ruler:
            return False  # a plain "WARNING: ..." message, not a report
        if self.open is not None and self.open.absorbs(head):
            self.open.take(number, line, head)
            return True
        self._close()
        last = self.last_closed
        if (head.role is _Role.PANIC and last is not None and last.shape is not _Shape.LINE
                and number - last.last_line <= PANIC_WINDOW):
            self.open, self.last_closed = last, None
            last.take(number, line, head)
            return True
        self._start(number, line, head)
        return True

    def _start(self, number: int, line: str, head: _Head) -> None:
        shape = (_Shape.RULED if head.kind in _RULED
                 else _Shape.LINE if head.kind in _LINE else _Shape.TRACED)
        report = _Report(head, number, _shown(line), number, shape,
                         after_cut=self.cut is not None and head.role is not _Role.WARN_LINE,
                         awaits_oops=head.oops_next)
        for message in self.cut or ():
            report.excerpt.append(_shown(message))
        self.cut = None
        report.add(number, line)
        self.reports.append(report)
        self.open = report

    def _other(self, number: int, line: str, ruler: bool) -> None:
        report = self.open
        if _CUT.match(line):
            if report is not None and report.head.kind in _MESSAGE_FIRST and not report.in_trace:
                report.after_cut = True
                report.last_line = number
                return
            self._close()
            self.cut = []
        elif ruler or _END.match(line):
            if report is not None and (not ruler or report.shape is _Shape.RULED):
                report.add(number, line)
            self._close()
        elif report is not None:
            if report.continues(line):
                report.add(number, line)
            else:
                self._close()
        elif self.cut is not None:
            self._cut_message(self.cut, line)

    def _cut_message(self, cut: list[str], line: str) -> None:
        if len(cut) >= CUT_MESSAGE_LINES:
            self.cut = None  # a lone "[ cut here ]": nothing followed it
        elif line.strip():
            cut.append(line)

    def _close(self) -> None:
        if self.open is not None:
            self.last_closed = self.open
            self.open = None

    def finish(self) -> HealthReport:
        self._close()
        splats: list[Splat] = []
        stalls: list[Splat] = []
        fatal_before: Splat | None = None
        for report in sorted(self.reports, key=lambda r: r.first_line):
            splat = _judge(report, fatal_before)
            (splats if splat.fatal else stalls).append(splat)
            if splat.fatal and fatal_before is None:
                fatal_before = splat
        return HealthReport(tuple(splats), tuple(stalls))


def _judge(report: _Report, fatal_before: Splat | None) -> Splat:
    kind = report.head.kind
    fatal, reason = True, "ends in a kernel panic" if report.panicked else ""
    if kind in STALLS and not report.panicked:
        fatal, reason = _stall_rule(report, fatal_before)
    return Splat(kind, report.first_line, report.last_line, report.title,
                 tuple(report.excerpt), fatal, reason)


def _stall_rule(report: _Report, fatal_before: Splat | None) -> tuple[bool, str]:
    if report.head.kind in SLOWNESS:
        return False, "load: time passed oddly (TCG), never a bug by itself"
    in_filter = [f for f in report.frames if f.split(".", 1)[0] in FILTER_FUNCTIONS]
    if in_filter:
        return True, f"backtrace in the filter code ({in_filter[0]})"
    if fatal_before is not None:
        return True, f"follows the {fatal_before.kind} at line {fatal_before.first_line}"
    stuck = _STUCK.match(report.title)
    if stuck and int(stuck.group(1)) > LOCKUP_LOAD_LIMIT_S:
        return True, f"stuck for {stuck.group(1)} s, over {LOCKUP_LOAD_LIMIT_S} s"
    return False, "load: not in the filter code, no splat before it"
