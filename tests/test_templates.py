"""Every template the code names exists, and every template compiles with what it includes.

A page whose template was renamed or misspelt answers 500 only when someone
opens it; this finds it without opening every page.
"""
import ast
import os
import pathlib

from jinja2 import meta

from core.i18n import I18n

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
CODE = ("access", "accounts", "admin", "app", "attendees", "chat", "community", "core", "events", "handlers",
        "mailings", "media", "questions", "quizzes", "realtime", "storage")


def named_in_code():
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and node.value.endswith((".html", ".txt")) and "/" in node.value \
                        and " " not in node.value and "{" not in node.value:
                    yield path.relative_to(ROOT), node.value


def test_every_template_named_in_the_code_exists():
    names = list(named_in_code())
    assert len(names) > 30, names
    missing = [(str(path), name) for path, name in names if not (TEMPLATES / name).is_file()]
    assert not missing, missing


def test_every_template_compiles_and_what_it_includes_exists():
    env = I18n().env("en")  # the platform's own environment: its filters and globals
    checked = 0
    for path in TEMPLATES.rglob("*"):
        if path.suffix not in (".html", ".txt"):
            continue
        name = os.path.relpath(path, TEMPLATES)
        source = path.read_text()
        parsed = env.parse(source, name)
        for included in meta.find_referenced_templates(parsed):
            assert included is None or (TEMPLATES / included).is_file(), (name, included)
        env.get_template(name)
        checked += 1
    assert checked > 40
