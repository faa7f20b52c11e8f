"""A legal entity's details, checked field by field for its country.

Russia: name, INN (10 digits for an organisation, 12 for a sole
proprietor, each with its check digits), KPP (organisations), OGRN (13
digits) or OGRNIP (15) with its check digit, legal address, bank BIK (9
digits) and settlement account (20 digits, checked against the BIK's last
three digits as the Bank of Russia's rule says).  Kazakhstan: name, BIN
(12 digits with the two-pass check digit), legal address, IIK (the
account as a KZ IBAN, mod-97 checked) and the bank's BIK (its SWIFT/BIC
code).  Any other country: name, VAT id (optional; its shape checked) and
address.

`clean` returns the details normalised (spaces and dashes out of numbers,
codes upper-cased) or raises `InvalidDetails` naming every field that is
wrong, each with a message marked for translation.  Nothing is stored
here; the caller stores only details that passed.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.countries import CODES
from core.errors import Refusal
from core.i18n import N_

RU, KZ = "RU", "KZ"
MAX_TEXT = 300

# Fields per country, in the order a form shows them.
FIELDS: dict[str, tuple[str, ...]] = {
    RU: ("name", "inn", "kpp", "ogrn", "address", "bik", "account"),
    KZ: ("name", "bin", "address", "iik", "bic"),
}
OTHER_FIELDS = ("name", "vat_id", "address")
ALL_FIELDS = ("name", "inn", "kpp", "ogrn", "bin", "vat_id", "address", "bik", "account", "iik", "bic")

LABELS = {
    "country": N_("Country"), "name": N_("Organisation name"), "inn": N_("INN"), "kpp": N_("KPP"),
    "ogrn": N_("OGRN or OGRNIP"), "address": N_("Legal address"), "bik": N_("Bank BIK"),
    "account": N_("Settlement account"), "bin": N_("BIN"), "iik": N_("IIK (IBAN)"),
    "bic": N_("Bank BIK (BIC)"), "vat_id": N_("VAT number"),
}

REQUIRED = N_("Fill in this field.")
TOO_LONG = N_("This field is too long.")
BAD_COUNTRY = N_("Choose a country.")
INN_SHAPE = N_("An INN has 10 digits (an organisation) or 12 digits (a sole proprietor).")
INN_CHECK = N_("This INN's check digits do not match: check it for a typo.")
KPP_SHAPE = N_("A KPP has 9 characters: 4 digits, 2 digits or capital letters, 3 digits.")
OGRN_SHAPE = N_("An OGRN has 13 digits; a sole proprietor's OGRNIP has 15.")
OGRN_KIND = N_("An organisation (10-digit INN) has a 13-digit OGRN; a sole proprietor (12-digit INN) "
               "has a 15-digit OGRNIP.")
OGRN_CHECK = N_("This OGRN's check digit does not match: check it for a typo.")
BIK_SHAPE = N_("A Russian bank BIK has 9 digits and starts with 04.")
ACCOUNT_SHAPE = N_("A settlement account has 20 digits.")
ACCOUNT_CHECK = N_("This account does not match the bank's BIK: check both for a typo.")
BIN_SHAPE = N_("A BIN has 12 digits.")
BIN_CHECK = N_("This BIN's check digit does not match: check it for a typo.")
IBAN_SHAPE = N_("A Kazakh IIK is an IBAN of 20 characters starting with KZ.")
IBAN_CHECK = N_("This IBAN's check digits do not match: check it for a typo.")
BIC_SHAPE = N_("A BIC has 8 or 11 characters: 4 letters, the country, 2 letters or digits, and maybe 3 more.")
VAT_SHAPE = N_("A VAT number is 4 to 16 letters and digits, usually starting with the country code.")


class InvalidDetails(Refusal):
    """Some fields are wrong; `fields` maps each to its (message, params); the first one is the message."""

    def __init__(self, fields: dict[str, tuple[str, dict[str, Any]]]):
        message, params = next(iter(fields.values()))
        super().__init__(message, **params)
        self.fields = fields


def _digits(value: str) -> str:
    return re.sub(r"[\s\-]", "", value or "")


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False))


def inn_ok(inn: str) -> bool:
    """The check digits of a Russian INN (10 or 12 digits)."""
    if not re.fullmatch(r"\d{10}|\d{12}", inn):
        return False
    if len(inn) == 10:
        return _weighted(inn, (2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10 == int(inn[9])
    n11 = _weighted(inn, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10
    n12 = _weighted(inn, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10
    return n11 == int(inn[10]) and n12 == int(inn[11])


def ogrn_ok(ogrn: str) -> bool:
    """OGRN (13 digits: the first 12 mod 11) or OGRNIP (15 digits: the first 14 mod 13), last digit."""
    if re.fullmatch(r"\d{13}", ogrn):
        return int(ogrn[:12]) % 11 % 10 == int(ogrn[12])
    if re.fullmatch(r"\d{15}", ogrn):
        return int(ogrn[:14]) % 13 % 10 == int(ogrn[14])
    return False


def account_ok(bik: str, account: str) -> bool:
    """The Bank of Russia's key: BIK's last 3 digits then the account, weights 7-1-3, sum divisible by 10."""
    digits = bik[-3:] + account
    weights = (7, 1, 3) * 8
    return _weighted(digits, weights[:23]) % 10 == 0


def bin_ok(bin_: str) -> bool:
    """Kazakhstan's BIN/IIN check digit: weights 1..11, and if that gives 10, weights 3..11,1,2."""
    if not re.fullmatch(r"\d{12}", bin_):
        return False
    first = _weighted(bin_, tuple(range(1, 12))) % 11
    if first == 10:
        first = _weighted(bin_, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)) % 11
        if first == 10:
            return False
    return first == int(bin_[11])


def iban_ok(iban: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers, mod 97 is 1."""
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{4,30}", iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _text(values: Mapping[str, Any], name: str, errors: dict, *, required: bool = True) -> str:
    value = " ".join(str(values.get(name) or "").split())
    if not value and required:
        errors[name] = (REQUIRED, {})
    elif len(value) > MAX_TEXT:
        errors[name] = (TOO_LONG, {})
    return value


def clean(values: Mapping[str, Any]) -> dict[str, str]:
    """The details normalised for storage, or `InvalidDetails` naming every wrong field."""
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    country = str(values.get("country") or "").strip().upper()
    if country not in CODES:
        raise InvalidDetails({"country": (BAD_COUNTRY, {})})
    out: dict[str, str] = {"country": country, "name": _text(values, "name", errors),
                           "address": _text(values, "address", errors)}
    if country == RU:
        inn = out["inn"] = _digits(str(values.get("inn") or ""))
        if not inn:
            errors["inn"] = (REQUIRED, {})
        elif not re.fullmatch(r"\d{10}|\d{12}", inn):
            errors["inn"] = (INN_SHAPE, {})
        elif not inn_ok(inn):
            errors["inn"] = (INN_CHECK, {})
        organisation = len(inn) != 12
        kpp = out["kpp"] = _digits(str(values.get("kpp") or "")).upper()
        if kpp and not re.fullmatch(r"\d{4}[0-9A-Z]{2}\d{3}", kpp):
            errors["kpp"] = (KPP_SHAPE, {})
        elif not kpp and organisation:
            errors["kpp"] = (REQUIRED, {})
        ogrn = out["ogrn"] = _digits(str(values.get("ogrn") or ""))
        if not ogrn:
            errors["ogrn"] = (REQUIRED, {})
        elif not re.fullmatch(r"\d{13}|\d{15}", ogrn):
            errors["ogrn"] = (OGRN_SHAPE, {})
        elif "inn" not in errors and (len(ogrn) == 13) != organisation:
            errors["ogrn"] = (OGRN_KIND, {})
        elif not ogrn_ok(ogrn):
            errors["ogrn"] = (OGRN_CHECK, {})
        bik = out["bik"] = _digits(str(values.get("bik") or ""))
        if not bik:
            errors["bik"] = (REQUIRED, {})
        elif not re.fullmatch(r"04\d{7}", bik):
            errors["bik"] = (BIK_SHAPE, {})
        account = out["account"] = _digits(str(values.get("account") or ""))
        if not account:
            errors["account"] = (REQUIRED, {})
        elif not re.fullmatch(r"\d{20}", account):
            errors["account"] = (ACCOUNT_SHAPE, {})
        elif "bik" not in errors and not account_ok(bik, account):
            errors["account"] = (ACCOUNT_CHECK, {})
    elif country == KZ:
        bin_ = out["bin"] = _digits(str(values.get("bin") or ""))
        if not bin_:
            errors["bin"] = (REQUIRED, {})
        elif not re.fullmatch(r"\d{12}", bin_):
            errors["bin"] = (BIN_SHAPE, {})
        elif not bin_ok(bin_):
            errors["bin"] = (BIN_CHECK, {})
        iik = out["iik"] = _digits(str(values.get("iik") or "")).upper()
        if not iik:
            errors["iik"] = (REQUIRED, {})
        elif not re.fullmatch(r"KZ\d{2}[0-9A-Z]{16}", iik):
            errors["iik"] = (IBAN_SHAPE, {})
        elif not iban_ok(iik):
            errors["iik"] = (IBAN_CHECK, {})
        bic = out["bic"] = _digits(str(values.get("bic") or "")).upper()
        if not bic:
            errors["bic"] = (REQUIRED, {})
        elif not re.fullmatch(r"[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?", bic):
            errors["bic"] = (BIC_SHAPE, {})
    else:
        vat = out["vat_id"] = _digits(str(values.get("vat_id") or "")).upper()
        if vat and not re.fullmatch(r"[A-Z0-9]{4,16}", vat):
            errors["vat_id"] = (VAT_SHAPE, {})
    if errors:
        raise InvalidDetails(errors)
    return out


def fields_for(country: str) -> tuple[str, ...]:
    return FIELDS.get(country, OTHER_FIELDS)
