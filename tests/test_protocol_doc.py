"""docs/protocol.md names every frame the server accepts, and every error code,
close code and upgrade refusal the server can send.

The codes are collected from the code itself (its constants, and the
arguments of every call that refuses a frame, closes a socket or refuses an
upgrade), so a new code without documentation fails here.
"""
import ast
import glob
import importlib
import os
import re

from realtime import protocol

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "protocol.md")
# Where frames are refused and sockets closed: the live side, and the domain
# modules whose refusals it passes on as they are (questions).
FRAME_MODULES = sorted(os.path.relpath(p, ROOT)[:-3].replace(os.sep, ".")
                       for p in glob.glob(os.path.join(ROOT, "realtime", "*.py"))) + ["questions.store", "server"]
REFUSING = {"FrameError", "QuestionError", "protocol.error"}   # each takes the code first
CLOSING = {"close", "drain"}                             # Connection/LiveSocket.close, Hub.drain: code first


def read_doc() -> str:
    with open(DOC) as f:
        return f.read()


def section(doc: str, title: str) -> str:
    start = doc.index(f"\n## {title}\n")
    end = doc.find("\n## ", start + 1)
    return doc[start:end if end != -1 else None]


def table_keys(text: str) -> set[str]:
    """The first cells of a markdown table's rows."""
    return {m.group(1).strip("` ") for m in re.finditer(r"^\| *([^|]+?) *\|", text, re.M)}


def _calls(module_name: str):
    """(module, callee name, first argument node) of every call in a module: `name(...)`,
    `obj.name(...)`, and `protocol.name(...)` named with its module."""
    module = importlib.import_module(module_name)
    with open(module.__file__) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "protocol":
                name = "protocol." + name
            yield module, name, node.args[0]


def _value(module, node):
    """A literal, a module constant or `other_module.CONSTANT`; None for anything computed."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = getattr(module, node.value.id, None)
        return getattr(owner, node.attr, None)
    return None


def error_codes() -> set[str]:
    codes = {v for k, v in vars(protocol).items() if k.isupper() and isinstance(v, str) and k != "VERSION"}
    for module, name, arg in (c for m in FRAME_MODULES for c in _calls(m)):
        value = _value(module, arg)
        if name in REFUSING and isinstance(value, str):
            codes.add(value)
    return codes


def close_codes() -> set[int]:
    codes = {v for k, v in vars(protocol).items() if k.startswith("CLOSE_") and isinstance(v, int)}
    for module_name in FRAME_MODULES:
        module = importlib.import_module(module_name)
        codes |= {v for k, v in vars(module).items() if k.startswith("CLOSE_") and isinstance(v, int)}
        for _, name, arg in _calls(module_name):
            value = _value(module, arg)
            if name in CLOSING and isinstance(value, int) and not isinstance(value, bool):
                codes.add(value)
    return codes


def refusal_statuses() -> set[int]:
    return {value for module, name, arg in _calls("realtime.endpoint")
            if name == "Refused" and isinstance(value := _value(module, arg), int)}


def test_every_client_frame_and_error_code_is_documented(services):
    doc = read_doc()
    undocumented = [t for t in services.live.frames if f"`{t}`" not in doc]
    assert not undocumented, undocumented
    codes = error_codes()
    # The collection sees refusals made in every way the code makes them.
    assert {"bad_frame", "internal", "too_many_pending", "read_only", "slow_mode"} <= codes, codes
    documented = table_keys(section(doc, "Server frames"))
    missing = sorted(c for c in codes if c not in documented)
    assert not missing, f"error codes missing from the `error` table: {missing}"


def test_every_close_code_is_documented():
    codes = close_codes()
    assert {1001, 1007, 1009, 4001, 4008} <= codes, codes
    documented = table_keys(section(read_doc(), "Close codes"))
    missing = sorted(c for c in codes if str(c) not in documented)
    assert not missing, f"close codes missing from the close code table: {missing}"


def test_every_upgrade_refusal_status_is_documented():
    statuses = refusal_statuses()
    assert {400, 401, 403, 404, 405, 426, 503} <= statuses, statuses
    documented = table_keys(section(read_doc(), "Connecting"))
    missing = sorted(s for s in statuses if str(s) not in documented)
    assert not missing, f"upgrade refusals missing from the status table: {missing}"
