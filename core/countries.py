"""The ISO 3166 country list with each country's name in a reader's language.

Codes come from pycountry (the ISO 3166-1 alpha-2 list, kept up to date by
its maintainers); names from the CLDR data Babel ships, so a Russian reader
sees "Германия" and a Hebrew one "גרמניה".  A code CLDR does not name keeps
pycountry's English name rather than disappearing from the list.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import pycountry
from babel import Locale

CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


@functools.lru_cache(maxsize=16)
def names(locale: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of every country, sorted by name for that locale's reader."""
    territories: Mapping[str, str]
    try:
        territories = Locale.parse(locale).territories
    except (ValueError, TypeError):
        territories = {}
    out = [(c.alpha_2, territories.get(c.alpha_2) or c.name) for c in pycountry.countries]
    return tuple(sorted(out, key=lambda item: item[1].casefold()))


def name(code: str, locale: str) -> str:
    """The country's name for that locale, or the code itself when it is not a country."""
    return dict(names(locale)).get(code, code)
