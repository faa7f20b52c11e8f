"""Money as the platform keeps it: an integer number of minor units with its currency.

Amounts are never floats: 15.00 EUR is `(1500, "EUR")`.  A currency's
exponent (digits after the point) comes from `CURRENCIES`; one not listed
there cannot be priced.  `parse` reads what staff type ("15", "15.5",
"15,50") into minor units, refusing more digits than the currency has;
`format` writes an amount the way a reader of one locale expects (Babel).
"""
from __future__ import annotations

import decimal

from babel import numbers

from core.errors import Refusal
from core.i18n import N_

# ISO 4217 code -> digits after the point.
CURRENCIES: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "RUB": 2, "KZT": 2, "ILS": 2, "PLN": 2, "SEK": 2, "NOK": 2,
    "DKK": 2, "CZK": 2, "UAH": 2, "GEL": 2, "JPY": 0,
}
# The largest amount accepted anywhere (a price, an order's total): far beyond any ticket.
MAX_MINOR = 10**12


class MoneyError(Refusal):
    """An amount or currency that cannot be used; the message is marked for translation."""


def exponent(currency: str) -> int:
    if currency not in CURRENCIES:
        raise MoneyError(N_("Unknown currency “%(currency)s”."), currency=currency)
    return CURRENCIES[currency]


def parse(text: str, currency: str) -> int:
    """Minor units from a typed amount; MoneyError when it is not one (negative, too precise, too large)."""
    places = exponent(currency)
    raw = (text or "").strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        value = decimal.Decimal(raw)
    except decimal.InvalidOperation:
        raise MoneyError(N_("“%(text)s” is not an amount."), text=text[:40]) from None
    if not value.is_finite() or value < 0:
        raise MoneyError(N_("“%(text)s” is not an amount."), text=text[:40])
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        raise MoneyError(N_("%(currency)s amounts have at most %(places)s digits after the point."),
                         currency=currency, places=places)
    if minor > MAX_MINOR:
        raise MoneyError(N_("This amount is too large."))
    return int(minor)


def as_decimal(amount: int, currency: str) -> decimal.Decimal:
    return decimal.Decimal(amount).scaleb(-exponent(currency))


def plain(amount: int, currency: str) -> str:
    """The amount as staff type it back (no grouping, a point): 1500 EUR -> "15.00"."""
    places = exponent(currency)
    value = as_decimal(amount, currency)
    return f"{value:.{places}f}"


def format(amount: int, currency: str, locale: str) -> str:
    """The amount with its currency, for a reader of `locale` (e.g. "15,00 €" in German)."""
    return numbers.format_currency(as_decimal(amount, currency), currency, locale=locale)
