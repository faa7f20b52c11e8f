"""User text that cannot change the direction of the text around it.

People see names, chat messages, questions and titles next to each other.
Unicode's explicit direction controls open a scope that lasts until it is
closed (or until the end of the paragraph): a name ending in U+202E
RIGHT-TO-LEFT OVERRIDE turns the message shown after it backwards, and a
file name or address can be made to read as something else.  These are
removed where text enters the platform (and from the attendee CSV export,
which may hold names stored before), so what is stored is safe to show next
to other people's text.

Removed: the embeddings and overrides U+202A..U+202E (LRE, RLE, PDF, LRO,
RLO) and the isolates U+2066..U+2069 (LRI, RLI, FSI, PDI).

Kept: the marks U+200E LEFT-TO-RIGHT MARK, U+200F RIGHT-TO-LEFT MARK and
U+061C ARABIC LETTER MARK.  They open no scope: each acts like one strong
letter of its direction at its own place, so it can reorder nothing that a
typed Hebrew or Latin letter could not, and Hebrew writers need them to put
punctuation and numbers on the right side of mixed text.
"""
from __future__ import annotations

import re

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_CONTROLS = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")


def strip_bidi(value):
    """`value` without bidi embedding, override and isolate controls.

    Anything that is not a str is returned as it is, so that a validator can
    call this before it checks the type of what a client sent.
    """
    if not isinstance(value, str):
        return value
    return _CONTROLS.sub("", value)
