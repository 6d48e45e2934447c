"""Text from files shown on a terminal or written into line-based files, made harmless.

A scenario's description, a file name or a value from a bundle can hold an escape sequence
(which a terminal obeys), a newline (which starts a new directive in a line-based file) or
a Unicode line separator (which some readers split on). ``printable`` spells every such
character as a backslash escape, so what is shown is exactly what the file holds.
"""

from __future__ import annotations


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every non-printable character (controls, line and paragraph separators,
    format characters, lone surrogates) written as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)
