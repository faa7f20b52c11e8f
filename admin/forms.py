"""Small helpers the staff form handlers share: per-locale fields."""
from __future__ import annotations

from core.i18n import LOCALES

# Generous: the domain checks the real limits and says which one was crossed.
FIELD_LIMIT = 100_000


def locale_texts(handler, prefix: str, locales=LOCALES) -> dict[str, str]:
    """{locale: text} from fields named `<prefix>_<locale>`."""
    return {code: handler.form(f"{prefix}_{code}", max_length=FIELD_LIMIT) for code in locales}


def field(handler, name: str) -> str:
    return handler.form(name, max_length=FIELD_LIMIT)


def choices(handler, name: str) -> list[str]:
    """All values of a repeated field (checkboxes), each cut to a sane length."""
    return [v.strip()[:32] for v in handler.get_body_arguments(name)][:len(LOCALES) * 2]
