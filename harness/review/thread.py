"""Where a review's reply goes: the series' cover letter, as its mbox names it.

``b4 am`` writes the patches (each with ``In-Reply-To``/``References`` pointing at the cover
letter); a mailbox saved from a list archive also has the cover itself (``[PATCH 0/N]``,
no diff). A reply to the cover is ``Re: <its subject>`` with ``In-Reply-To: <its id>``;
without a cover, the first patch stands in for it. A directory of patches from ``git
format-patch --cover-letter`` has ``0000-cover-letter.patch``.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message
from pathlib import Path

from harness.kbuild.series import MAX_PATCH_BYTES, PATCH_SUFFIXES, carries_diff, mbox_messages
from harness.review.model import Thread

MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _messages(path: Path) -> list[bytes]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in PATCH_SUFFIXES and p.is_file())
        return [p.read_bytes()[:MAX_PATCH_BYTES] for p in files]
    return mbox_messages(path.read_bytes()[:MAX_PATCH_BYTES])


def _parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def _words(value: object) -> str:
    return " ".join(str(value or "").split())


def _ids(value: object) -> list[str]:
    return MESSAGE_ID.findall(str(value or ""))


def thread_of(path: Path) -> Thread:
    """The cover letter's subject and id (or the first patch's), and the references a
    reply carries; an empty ``Thread`` when the series names no message at all."""
    messages = [(raw, _parse(raw)) for raw in _messages(path)]
    patches = [m for raw, m in messages if carries_diff(raw)]
    covers = [m for raw, m in messages if not carries_diff(raw) and _ids(m.get("Message-ID"))]
    head = covers[0] if covers else (patches[0] if patches else None)
    if head is None:
        return Thread()
    if not covers:
        # b4's patches answer the cover: reply there even though its text is not here.
        parents = _ids(head.get("In-Reply-To"))
        if parents:
            chain = [i for i in _ids(head.get("References")) if i != parents[0]]
            return Thread(f"Re: {_subject(head)}", parents[0], (*chain, parents[0]))
    own = _ids(head.get("Message-ID"))
    if not own:
        return Thread(f"Re: {_subject(head)}" if _subject(head) else "")
    earlier = [i for i in _ids(head.get("References")) if i != own[0]]
    return Thread(f"Re: {_subject(head)}", own[0], (*earlier, own[0]))


def _subject(message: Message) -> str:
    subject = _words(message.get("Subject"))
    return subject[4:] if subject.lower().startswith("re: ") else subject
