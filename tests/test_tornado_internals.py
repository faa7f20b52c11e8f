"""Private Tornado APIs are used in one module, and only with a Tornado they were checked against.

`realtime.tornado_internals` refuses to import under an untested Tornado,
with a message that says what to do; no other module of the tree (tests
included) touches a private Tornado name.  The names are Tornado's own:
read from the installed package's source, so a new use of any of them is
found, not only of those in use today.
"""
import ast
import functools
import importlib
import importlib.util
import inspect
import os
import re

import pytest
import tornado
import tornado.web
import tornado.websocket

from realtime import tornado_internals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLOWED = os.path.join("realtime", "tornado_internals.py")
SKIP_DIRS = {"node_modules", "vendor", "__pycache__"}
ATTR_CALLS = {"getattr", "setattr", "hasattr", "delattr", "attrgetter"}


def fresh_copy():
    """Run the module's code again (its import-time check included), outside sys.modules."""
    spec = importlib.util.find_spec("realtime.tornado_internals")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_untested_tornado_is_refused_at_import_with_what_to_do(monkeypatch):
    monkeypatch.setattr(tornado, "version", "6.99.0")
    with pytest.raises(ImportError) as refused:
        fresh_copy()
    message = str(refused.value)
    assert "Tornado 6.99.0 is installed" in message
    assert "pip install tornado==6.6.1" in message
    assert 'add "6.99.0" to TESTED in realtime/tornado_internals.py' in message


def test_the_installed_tornado_is_a_tested_one_and_the_one_pinned():
    assert fresh_copy().TESTED == tornado_internals.TESTED
    assert tornado.version in tornado_internals.TESTED
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        pinned = re.search(r"^tornado==(\S+)", f.read(), re.MULTILINE).group(1)
    assert pinned in tornado_internals.TESTED


# --- Tornado's private names -------------------------------------------------------


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def stored_on_self(tree: ast.AST) -> set[str]:
    """Private attributes a class's methods assign on `self`."""
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name) and node.value.id == "self" and private(node.attr)}


def tornado_classes():
    package = os.path.dirname(tornado.__file__)
    for name in sorted(os.listdir(package)):
        if name.endswith(".py") and name != "__init__.py" and not name.startswith("_"):
            try:
                module = importlib.import_module(f"tornado.{name[:-3]}")
            except ImportError:
                continue   # an optional dependency (curl, twisted) that is not installed
            for value in vars(module).values():
                if inspect.isclass(value) and value.__module__ == module.__name__:
                    yield value


@functools.cache
def stored_in_module(module_name: str) -> dict[str, set[str]]:
    """Class name -> the private attributes its methods assign on `self`, for a Tornado module."""
    try:
        tree = parse(inspect.getsourcefile(importlib.import_module(module_name)))
    except (OSError, TypeError):
        return {}
    return {node.name: stored_on_self(node) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


@functools.cache
def private_names_of(cls) -> frozenset[str]:
    """The private names a class has from Tornado: its and its Tornado bases' members and attributes."""
    names = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("tornado."):
            names |= {n for n in vars(klass) if private(n)}
            names |= stored_in_module(klass.__module__).get(klass.__name__, set())
    return frozenset(names)


def all_tornado_private_names() -> set[str]:
    names = set()
    for cls in tornado_classes():
        names |= private_names_of(cls)
    return names


# --- the tree ----------------------------------------------------------------------


def python_files():
    for root, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                yield os.path.relpath(path, ROOT), path


def parse(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def index(tree: ast.Module) -> tuple[dict[str, str], list[ast.ClassDef]]:
    """A module's Tornado imports (local name -> the dotted Tornado name it stands for) and its classes."""
    names, classes = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            classes.append(node)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tornado":
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tornado":
                    names[alias.asname or "tornado"] = alias.name if alias.asname else "tornado"
    return names, classes


def dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = dotted(node.value)
        return owner and f"{owner}.{node.attr}"
    return None


def resolve_tornado(name: str, imports: dict[str, str]):
    """The Tornado object a dotted name in a module refers to, or None."""
    head, _, rest = name.partition(".")
    if head not in imports:
        return None
    parts = (imports[head] + ("." + rest if rest else "")).split(".")
    for i in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            value = getattr(value, part, None)
        return value
    return None


def scan_tree():
    """Every module of the tree, indexed, and our classes' Tornado bases, followed by class name."""
    modules = {rel: (tree, *index(tree)) for rel, tree in ((rel, parse(path)) for rel, path in python_files())}
    return modules, tornado_bases_of(modules)


def tornado_bases_of(modules) -> dict[str, set]:
    """Our class name -> the Tornado classes it derives from (directly or through our classes)."""
    tornado_bases: dict[str, set] = {}
    ours: dict[str, list] = {}             # our class name -> base names that are ours
    for _, imports, classes in modules.values():
        for node in classes:
            for base in node.bases:
                name = dotted(base)
                target = name and resolve_tornado(name, imports)
                if inspect.isclass(target):
                    tornado_bases.setdefault(node.name, set()).add(target)
                elif name:
                    ours.setdefault(node.name, []).append(name.split(".")[-1])
    changed = True
    while changed:
        changed = False
        for name, bases in ours.items():
            inherited = set().union(*(tornado_bases.get(b, set()) for b in bases))
            if not inherited <= tornado_bases.get(name, set()):
                tornado_bases.setdefault(name, set()).update(inherited)
                changed = True
    return tornado_bases


def own_private_names(modules, tornado_bases) -> set[str]:
    """Private names the project defines itself (outside tests and Tornado subclasses)."""
    names = set()
    for rel, (tree, _, classes) in modules.items():
        if rel.startswith("tests" + os.sep) or rel == ALLOWED:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and private(node.name):
                names.add(node.name)
        for node in classes:
            if node.name not in tornado_bases:
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and private(item.name):
                        names.add(item.name)
                names |= stored_on_self(node)
    return names


def private_tornado_uses(modules, tornado_bases) -> list[str]:
    """"path:line: what" for every reach into Tornado's private names outside the allowed module."""
    foreign = all_tornado_private_names() - own_private_names(modules, tornado_bases)
    found = []
    for rel, (tree, imports, _) in modules.items():
        if rel != ALLOWED:
            found += [f"{rel}:{node.lineno}: {what}"
                      for node, what in uses_in(tree, frozenset(), imports, tornado_bases, foreign)]
    return found


def uses_in(node, inherited: frozenset, imports: dict, tornado_bases: dict, foreign: set):
    """(node, what) for each private Tornado name reached in `node` and below.

    `inherited`: the private names the enclosing class has from Tornado, what
    `self.` and `super().` reach there; elsewhere an attribute is Tornado's
    when Tornado has a private name of that spelling and the project does not.
    """
    if isinstance(node, ast.ClassDef):
        inherited = frozenset().union(*(private_names_of(b) for b in tornado_bases.get(node.name, ())))
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in inherited:
                yield item, f"overrides {item.name}"
    elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tornado":
        for alias in node.names:
            if private(alias.name):
                yield node, f"imports {node.module}.{alias.name}"
    elif isinstance(node, ast.Attribute) and private(node.attr):
        owner = node.value
        name = dotted(owner)
        on_self = (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) or (
            isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super")
        if name and name.split(".")[0] in imports:
            yield node, f"{name}.{node.attr}"
        elif node.attr in (inherited if on_self else foreign):
            yield node, f"{ast.unparse(owner)}.{node.attr}"
    elif isinstance(node, ast.Call):
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        for arg in node.args if called in ATTR_CALLS else ():
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and \
                    any(part in foreign for part in arg.value.split(".")):
                yield node, f"{called}(..., {arg.value!r})"
    for child in ast.iter_child_nodes(node):
        yield from uses_in(child, inherited, imports, tornado_bases, foreign)


def test_no_private_tornado_name_is_used_outside_tornado_internals():
    modules, tornado_bases = scan_tree()
    found = private_tornado_uses(modules, tornado_bases)
    assert not found, ("private Tornado APIs used outside realtime/tornado_internals.py "
                       "(name them there, with why): " + "; ".join(found))


def test_the_scan_finds_each_way_of_reaching_a_private_name():
    # What the tree looked like before realtime/tornado_internals.py, and more.
    sample = ast.parse('''
import tornado.websocket
from tornado.websocket import _DecompressTooLargeError, WebSocketProtocol13
from tornado.web import RequestHandler
from operator import attrgetter

params = tornado.websocket._WebSocketParams(max_message_size=1)
pending = len(stream._write_buffer)
unsent = attrgetter("_write_buffer._size")

class Protocol(WebSocketProtocol13):
    def _handle_message(self, opcode, data):
        return self._run_callback(self.handler.on_message, data)

class Base(RequestHandler):
    pass

class Page(Base):
    def get(self):
        return self._transforms

class Own:
    def _on_message(self):
        self._write_buffer = b""
        return self._write_buffer
''')
    modules = {os.path.join("tests", "sample.py"): (sample, *index(sample))}
    tornado_bases = {"Protocol": {tornado.websocket.WebSocketProtocol13},
                     "Base": {tornado.web.RequestHandler}, "Page": {tornado.web.RequestHandler}}
    found = [line.split(": ", 1)[1] for line in private_tornado_uses(modules, tornado_bases)]
    assert found == ["imports tornado.websocket._DecompressTooLargeError",
                     "tornado.websocket._WebSocketParams",
                     "stream._write_buffer",
                     "attrgetter(..., '_write_buffer._size')",
                     "overrides _handle_message",
                     "self._run_callback",
                     "self._transforms"], found
