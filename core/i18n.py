"""The platform's eight languages: catalogs, locale choice, per-locale Jinja.

Each locale gets its own Jinja environment with that locale's gettext
installed, so templates are rendered without any per-request global state.
Python code translates through `I18n.translations(code)`; strings marked with
`N_()` are extracted by Babel and translated where they are shown.
"""
from __future__ import annotations

import os
from datetime import UTC
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale, dates, numbers
from babel.support import NullTranslations, Translations

from core import countries

LOCALES = ("ru", "en", "de", "lv", "lt", "et", "kk", "he")
RTL = frozenset({"he"})
LOCALE_NAMES = {
    "ru": "Русский", "en": "English", "de": "Deutsch", "lv": "Latviešu",
    "lt": "Lietuvių", "et": "Eesti", "kk": "Қазақ тілі", "he": "עברית",
}
DOMAIN = "messages"
# The checkout: templates/ and translations/ sit beside core/.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is displayed."""
    return message


def direction(code: str) -> str:
    return "rtl" if code in RTL else "ltr"


def negotiate(accept_language: str | None, available=LOCALES) -> str | None:
    """Best platform locale for an Accept-Language header, or None."""
    if not accept_language:
        return None
    prefs = []
    for i, part in enumerate(accept_language.split(",")):
        piece = part.strip().split(";")
        tag = piece[0].strip().replace("_", "-").lower()
        q = 1.0
        for param in piece[1:]:
            if param.strip().startswith("q="):
                try:
                    q = float(param.strip()[2:])
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            prefs.append((-q, i, tag))
    for _, _, tag in sorted(prefs):
        base = tag.split("-")[0]
        if base == "iw":  # the old code for Hebrew, still sent by some browsers
            base = "he"
        if base in available:
            return base
    return None


def text_for(values: dict | None, code: str, fallbacks=()) -> str:
    """A per-locale text with fallback: the locale, then the given ones, then any."""
    if not values:
        return ""
    for c in (code, *fallbacks):
        if values.get(c):
            return values[c]
    for v in values.values():
        if v:
            return v
    return ""


class I18n:
    def __init__(self, translations_dir: str | None = None, templates_dir: str | None = None):
        self.translations_dir = translations_dir or os.path.join(ROOT, "translations")
        self.templates_dir = templates_dir or os.path.join(ROOT, "templates")
        self._translations: dict[str, NullTranslations] = {}
        self._envs: dict[str, jinja2.Environment] = {}
        loader = jinja2.FileSystemLoader(self.templates_dir)
        for code in LOCALES:
            tr = Translations.load(self.translations_dir, [code], DOMAIN)
            self._translations[code] = tr
            self._envs[code] = self._make_env(code, tr, loader)

    def missing_catalogs(self) -> list[str]:
        """Locales whose compiled catalog was not found (set-up not run)."""
        return [c for c in LOCALES if c != "en"
                and not isinstance(self._translations[c], Translations)]

    def translations(self, code: str) -> NullTranslations:
        return self._translations.get(code) or self._translations["en"]

    def env(self, code: str) -> jinja2.Environment:
        return self._envs.get(code) or self._envs["en"]

    def gettext(self, code: str):
        return self.translations(code).gettext

    def _make_env(self, code: str, tr, loader) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=loader,
            autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        # Added to the environment at run time by the i18n extension; jinja2's types do not declare it.
        env.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
        fmt = Formatter(code)
        env.filters.update(
            datetime=fmt.datetime, date=fmt.date, time=fmt.time,
            number=fmt.number, money=fmt.money, text_for=lambda v: text_for(v, code),
        )
        env.globals.update(
            locale_code=code, direction=direction(code), LOCALES=LOCALES,
            LOCALE_NAMES=LOCALE_NAMES, fmt=fmt,
            countries=lambda: countries.names(code),
        )
        return env


class Formatter:
    """Dates and numbers written the way a reader of one locale expects."""

    def __init__(self, code: str):
        self.code = code
        self.locale = Locale.parse(code)

    def _tz(self, tz):
        if isinstance(tz, str):
            return ZoneInfo(tz)
        return tz or UTC

    def datetime(self, value, tz=None, format="medium"):
        if value is None:
            return ""
        return dates.format_datetime(value, format=format, tzinfo=self._tz(tz), locale=self.locale)

    def date(self, value, format="long"):
        if value is None:
            return ""
        return dates.format_date(value, format=format, locale=self.locale)

    def time(self, value, tz=None, format="short"):
        if value is None:
            return ""
        return dates.format_time(value, format=format, tzinfo=self._tz(tz), locale=self.locale)

    def number(self, value):
        return numbers.format_decimal(value, locale=self.locale)

    def money(self, amount: int, currency: str) -> str:
        """Integer minor units of `currency` as this locale writes money (`core.money`)."""
        from core import money  # core.money imports this module for N_
        return money.format(amount, currency, self.code)
