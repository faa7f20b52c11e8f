"""Platform mails, rendered from Jinja templates in the recipient's language.

The mails no organiser owns (the password reset) have three templates in
templates/email/: `name.subject.txt` (one line), `name.txt` (plain text) and
`name.html`.  They are rendered with the same per-locale Jinja environments
as pages, so every such email is translated like the rest of the UI.  The
mails an event sends (sign-in, registration, invitations, reminders, data
requests, certificates) are organiser-editable instead: `mailings.templates`.

A mail that carries a secret (a reset link) is also rendered as the copy
staff may read in the outbox (`render_for_staff`): the templates get
`hidden`, the translated placeholder they print wherever the recipient's
copy has a secret.
"""
from __future__ import annotations

import jinja2

from core.i18n import N_, I18n, direction

HIDDEN = N_("hidden: sent only to the recipient")


def render(i18n: I18n, locale: str, name: str, **ctx) -> tuple[str, str, str]:
    env = i18n.env(locale)
    ctx = {"locale_code": locale, "direction": direction(locale), "hidden": "", **ctx}
    subject = env.get_template(f"email/{name}.subject.txt").render(**ctx).strip()
    text = _text_env(env).get_template(f"email/{name}.txt").render(**ctx)
    html = env.get_template(f"email/{name}.html").render(**ctx)
    return " ".join(subject.split()), text, html


def render_for_staff(i18n: I18n, locale: str, name: str, **ctx) -> tuple[str, str, str]:
    """The outbox copy of a mail with secrets: every secret replaced by the placeholder.

    Callers pass only what staff may know (no link, password or login), so
    nothing secret can reach this copy even through a template mistake.
    """
    return render(i18n, locale, name, hidden=i18n.gettext(locale)(HIDDEN), **ctx)


def _text_env(env: jinja2.Environment) -> jinja2.Environment:
    # Plain-text mail must not HTML-escape names like "O'Brien & Co".
    overlay = getattr(env, "_text_overlay", None)
    if overlay is None:
        overlay = env.overlay(autoescape=False)
        # Cached on the environment it derives from, so it lives and dies with it;
        # jinja2's Environment declares no such attribute.
        env._text_overlay = overlay  # type: ignore[attr-defined]
    return overlay
