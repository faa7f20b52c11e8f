"""The layers of the platform, read from the source: imports run one way, and
entry points leave every database write to the domain actions.

Both checks read each module's syntax tree (imports inside functions count
as much as those at the top), so an import or a write cannot hide from them
behind formatting.
"""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Each top-level package (and `server.py`) with its layer.  A module may
# import from its own layer and from the layers below it, never from one
# above.  core knows nothing of the platform; access knows core and, where
# it must, the storage types; the domain packages know core, storage and
# access and each other; the entry points (public pages, staff pages, the
# WebSocket side) call the domain; app wires the entry points together and
# server.py starts it all.  bench/ and tools/ are programs beside the
# platform: they may use it, it never uses them.  A new package gets its
# line here, or this test fails.
LAYERS = {
    "core": 0,
    "storage": 1, "mongo_indexes": 1,
    "access": 2,
    "accounts": 3, "events": 3, "attendees": 3, "registration": 3, "mailings": 3, "media": 3,
    "chat": 3, "questions": 3, "quizzes": 3, "community": 3, "certificates": 3,
    "reminders": 3, "reactions": 3,
    "invitations": 3,
    "payments": 3,
    "orders": 3,
    "donations": 3,
    "handlers": 4, "admin": 4, "realtime": 4,
    "app": 5,
    "server": 6,
    "bench": 7, "tools": 7,
}
ENTRY_POINTS = ("handlers", "admin", "realtime")
SKIPPED = {"tests", "static", "templates", "translations", "docs", "nginx"}

# Collection (and database) methods that change stored data.  An entry point
# calls a domain action instead, which validates, persists, audits and
# announces the change.
WRITES = frozenset({
    "insert_one", "insert_many", "update_one", "update_many", "replace_one",
    "delete_one", "delete_many", "find_one_and_update", "find_one_and_replace",
    "find_one_and_delete", "bulk_write", "drop", "drop_collection", "drop_database",
    "create_index", "create_indexes", "drop_index", "drop_indexes",
})


def package_of(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def modules() -> list[pathlib.Path]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0].startswith(".") or rel.parts[0] in SKIPPED:
            continue
        out.append(path)
    return out


def imported(tree: ast.AST, path: pathlib.Path) -> list[tuple[str, int]]:
    """(top-level name, line) of every import anywhere in the module, relative ones resolved."""
    rel = path.relative_to(ROOT)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                out.append((node.module.split(".")[0], node.lineno))
            else:
                # `from . import x` names a module of the importing package.
                parents = rel.parts[:-1][:max(0, len(rel.parts) - node.level)]
                out.append((parents[0] if parents else (node.module or "").split(".")[0], node.lineno))
    return out


def import_violations(source: str, path: pathlib.Path) -> list[str]:
    """Imports from a higher layer, or from a package the table does not place."""
    own = package_of(path)
    rank = LAYERS.get(own)
    out = []
    for name, line in sorted(imported(ast.parse(source), path), key=lambda found: found[1]):
        if name == own or (name not in LAYERS and not (ROOT / name).is_dir()):
            continue
        where = f"{path.relative_to(ROOT)}:{line}"
        if name not in LAYERS:
            out.append(f"{where} imports {name}, which has no layer in LAYERS")
        elif rank is not None and LAYERS[name] > rank:
            out.append(f"{where} ({own}, layer {rank}) imports {name} (layer {LAYERS[name]})")
    return out


def write_calls(source: str, path: pathlib.Path) -> list[str]:
    """Calls of a writing collection method (`x.update_one(...)`) in the module."""
    calls = sorted((node.lineno, node.func.attr) for node in ast.walk(ast.parse(source))
                   if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                   and node.func.attr in WRITES)
    return [f"{path.relative_to(ROOT)}:{line} calls .{name}()" for line, name in calls]


def test_every_package_has_a_layer():
    packages = {package_of(p) for p in modules()}
    assert not packages - set(LAYERS), f"place these in LAYERS: {sorted(packages - set(LAYERS))}"


def test_imports_run_from_higher_layers_to_lower_ones():
    found = []
    for path in modules():
        found += import_violations(path.read_text(encoding="utf-8"), path)
    assert not found, "\n".join(found)


def test_entry_points_leave_database_writes_to_domain_actions():
    found = []
    for path in modules():
        if package_of(path) in ENTRY_POINTS:
            found += write_calls(path.read_text(encoding="utf-8"), path)
    assert not found, "\n".join(found)


def test_the_checks_see_what_they_are_meant_to_see():
    """Both checks on small made-up modules: they catch what hides in a function."""
    domain = ROOT / "events" / "made_up.py"
    hidden = "def later():\n    from realtime import hub\n    import app.routes\n"
    assert [v.split(" ", 1)[0] for v in import_violations(hidden, domain)] == \
        ["events/made_up.py:2", "events/made_up.py:3"]
    assert import_violations("from . import model\nfrom core import clock\n", domain) == []
    assert import_violations("from ..model import x\n", ROOT / "events" / "sub" / "x.py") == []
    assert import_violations("from core import clock\n", ROOT / "core" / "made_up.py") == []
    assert import_violations("from events import model\n", ROOT / "core" / "made_up.py")
    assert import_violations("from storage import Storage\n", ROOT / "access" / "made_up.py") == []
    assert import_violations("from accounts import users\n", ROOT / "access" / "made_up.py")

    handler = ROOT / "handlers" / "made_up.py"
    writes = ("async def post(self):\n"
              "    users = self.db.users\n"
              "    await users.update_one({}, {})\n"
              "    await self.db['x'].delete_many({})\n"
              "    await self.db.users.find_one({})\n")
    assert write_calls(writes, handler) == ["handlers/made_up.py:3 calls .update_one()",
                                            "handlers/made_up.py:4 calls .delete_many()"]
