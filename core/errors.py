"""Refusals: errors a person is shown, in their own language.

A domain module refuses an action or an input by raising a `Refusal` (or one
of its own subclasses): `message` is the English text marked with `N_`, and
`params` fill its `%(name)s` placeholders once it is translated, so the
message stays one catalog entry whatever the values.  Nothing is written
when a refusal is raised.  An entry point shows it with `translated`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Refusal(ValueError):
    """A refused action or input; `message` is marked for translation, `params` fill it."""

    def __init__(self, message: str, **params: Any):
        super().__init__(message)
        self.message = message
        self.params = params


def translated(gettext: Callable[[str], str], exc: Exception) -> str:
    """The refusal's message in the reader's language, its placeholders filled.

    An exception that is not a `Refusal` counts as one whose message is its
    text (the domain raises some plain exceptions with a marked message).
    """
    message = getattr(exc, "message", str(exc))
    params = getattr(exc, "params", None)
    text = gettext(message)
    # Without params the text is left as it is: `%` would fail on a literal "%".
    return text % params if params else text
