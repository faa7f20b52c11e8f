"""Locale choice (profile, then cookie, then Accept-Language), direction, the switcher."""
import html as htmllib
import re

import pytest

from core.i18n import LOCALES, RTL
from tests.support import error_text

# Strings every sign-in page shows; each must appear in the page as the
# locale's catalog translates it.
SIGNIN_STRINGS = ("Sign in", "Login or email", "Password", "Forgot your password?")


def html_tag(html: str) -> str:
    m = re.search(r"<html[^>]*>", html)
    assert m, html[:200]
    return m.group(0)


def assert_lang_and_dir(html: str, code: str) -> None:
    tag = html_tag(html)
    assert f'lang="{code}"' in tag, tag
    assert f'dir="{"rtl" if code in RTL else "ltr"}"' in tag, tag


def assert_signin_translated(html: str, code: str, i18n) -> None:
    """The sign-in page speaks `code`: every marker string in its translation.

    While a locale has no compiled catalog its translation is the English
    source, so this holds trivially; once catalogs are compiled it checks
    the real text, and that a non-English page is not left in English.
    """
    gettext = i18n.gettext(code)
    text = htmllib.unescape(html)
    for source in SIGNIN_STRINGS:
        assert gettext(source) in text, (code, source)
    if code != "en" and code not in i18n.missing_catalogs():
        assert any(gettext(s) != s for s in SIGNIN_STRINGS), f"{code}: sign-in page is in English"


@pytest.mark.gen_test
@pytest.mark.parametrize("code", LOCALES)
async def test_signin_page_in_every_locale(browser, services, code):
    r = await browser(locale=code).get("/signin")
    assert r.status_code == 200
    assert_lang_and_dir(r.text, code)
    assert_signin_translated(r.text, code, services.i18n)


@pytest.mark.gen_test
async def test_hebrew_is_right_to_left(browser):
    r = await browser(locale="he-IL,he;q=0.9").get("/signin")
    assert '<html lang="he" dir="rtl">' in r.text
    r = await browser(locale="iw").get("/signin")
    assert 'dir="rtl"' in html_tag(r.text)


@pytest.mark.gen_test
async def test_accept_language_then_default(browser):
    assert_lang_and_dir((await browser(locale="fr-FR, de;q=0.8, ru;q=0.5").get("/signin")).text, "de")
    assert_lang_and_dir((await browser(locale="fr").get("/signin")).text, "en")
    assert_lang_and_dir((await browser().get("/signin")).text, "en")


@pytest.mark.gen_test
async def test_cookie_beats_accept_language(browser):
    b = browser(locale="ru")
    b.client.cookies.set("lh_locale", "lt")
    assert_lang_and_dir((await b.get("/signin")).text, "lt")
    b.client.cookies.set("lh_locale", "nonsense")
    assert_lang_and_dir((await b.get("/signin")).text, "ru")


@pytest.mark.gen_test
async def test_profile_beats_cookie_and_accept_language(browser, factory):
    user = await factory.user(locale="kk")
    b = browser(locale="ru")
    b.client.cookies.set("lh_locale", "lt")
    await b.sign_in(user["login"], factory.PASSWORD)
    assert_lang_and_dir((await b.get("/profile")).text, "kk")


@pytest.mark.gen_test
async def test_switcher_is_on_every_page_and_sets_the_cookie(browser):
    b = browser(locale="ru")
    r = await b.get("/signin")
    assert 'action="/locale"' in r.text
    for code in LOCALES:
        assert f'<option value="{code}"' in r.text
    r = await b.post("/locale", {"locale": "he", "next": "/password/forgot"})
    assert r.status_code == 302 and r.headers["location"] == "/password/forgot"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("lh_locale="))
    assert "lh_locale=he" in cookie and "SameSite=Lax" in cookie
    assert "expires=" in cookie.lower()
    assert b.client.cookies.get("lh_locale") == "he"
    assert_lang_and_dir((await b.get("/password/forgot")).text, "he")


@pytest.mark.gen_test
async def test_switcher_saves_the_choice_for_a_signed_in_user(browser, factory, db):
    user = await factory.user(locale="en")
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.post("/locale", {"locale": "et", "next": "/profile"})
    assert r.status_code == 302
    assert (await db.users.find_one({"_id": user["_id"]}))["locale"] == "et"
    # On another device, with no cookie, the profile decides.
    other = browser(locale="de")
    await other.sign_in(user["login"], factory.PASSWORD)
    assert_lang_and_dir((await other.get("/profile")).text, "et")


@pytest.mark.gen_test
async def test_switcher_refuses_unknown_locale_and_foreign_next(browser, factory, db):
    user = await factory.user(locale="de")
    b = browser()
    await b.sign_in(user["login"], factory.PASSWORD)
    r = await b.post("/locale", {"locale": "xx", "next": "/profile"})
    assert r.status_code == 400
    assert error_text(r.text)
    assert_lang_and_dir(r.text, "de")
    assert "lh_locale" not in b.client.cookies
    assert (await db.users.find_one({"_id": user["_id"]}))["locale"] == "de"

    r = await b.post("/locale", {"locale": "lv", "next": "//evil.example/x"})
    assert r.status_code == 302 and r.headers["location"] == "/"


def test_every_catalog_is_compiled_and_complete(services):
    """make test compiles the catalogs; every entry of every locale has a translation."""
    from babel.messages.pofile import read_po
    assert services.i18n.missing_catalogs() == []
    for code in LOCALES:
        with open(f"{services.i18n.translations_dir}/{code}/LC_MESSAGES/messages.po", "rb") as f:
            catalog = read_po(f, locale=code)
        for message in catalog:
            if message.id:
                strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
                assert all(strings) and not message.fuzzy, (code, message.id)


@pytest.mark.parametrize("code", LOCALES)
def test_signin_email_is_written_in_the_recipients_language(services, code):
    from mailings import templates
    from mailings.signin_mailing import render_signin
    event = {"title": {code: "Конференция"}, "default_locale": code}
    user = {"name": "Anna", "login": "anna7"}
    subject, text, html = render_signin(services, event, user, code, "http://x/signin/link/t", "Pw123456")
    gettext = services.i18n.gettext(code)
    assert subject == gettext(templates.KINDS["signin"].subject).format(event_title="Конференция")
    assert "anna7" in text and "Pw123456" in text and gettext(templates.KINDS["signin"].body).split("\n")[0] in \
        text.replace("Anna", "{person_name}")
    assert f'lang="{code}"' in html and f'dir="{"rtl" if code in RTL else "ltr"}"' in html
    if code != "en":
        assert gettext("Sign in to the event") != "Sign in to the event"
