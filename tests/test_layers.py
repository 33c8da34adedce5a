"""Where code may import from: the layering rules of docs/architecture.md ("Layers"), checked on every
import statement of the package (function-level imports included), read with ``ast``.

Each rule says why it exists; a failure names the module, the line and the import.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from huey.api import TaskWrapper

PACKAGE = Path(__file__).resolve().parents[1] / "yoyaku"

# The delivery layers: they turn HTTP into calls of services and selectors, and answers back.
DELIVERY = ("web", "api")
# Modules that wire the project together (URL routing): they alone may import a delivery layer.
WIRING = ("yoyaku.urls",)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the module imported from, dotted and absolute
    names: tuple[str, ...]  # names taken from it (empty for ``import x``)
    line: int

    def __str__(self) -> str:
        names = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.module}:{self.line} imports {self.target}{names}"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports_of(path: Path, root: Path = PACKAGE) -> Iterator[Import]:
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module=module, target=alias.name, names=(), line=node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = tuple(alias.name for alias in node.names)
            if not node.module:  # ``from . import x``: each name is a module of the package
                for name in names:
                    yield Import(module=module, target=f"{target}.{name}", names=(), line=node.lineno)
            else:
                yield Import(module=module, target=target, names=names, line=node.lineno)


ALL_IMPORTS = [found for path in sorted(PACKAGE.rglob("*.py")) for found in _imports_of(path)]


def _package(dotted: str) -> str:
    """The top-level package of ``yoyaku`` a module belongs to ("" outside yoyaku or for root modules)."""
    parts = dotted.split(".")
    if parts[0] != "yoyaku" or len(parts) < 2:
        return ""
    return parts[1] if (PACKAGE / parts[1]).is_dir() else ""


def _in(module: str, package: str) -> bool:
    return module == f"yoyaku.{package}" or module.startswith(f"yoyaku.{package}.")


def _is_django(target: str) -> bool:
    return target == "django" or target.startswith(("django.", "ninja", "huey.contrib.djhuey"))


def test_the_walk_sees_the_package() -> None:
    # A rule over no imports passes vacuously: make sure the walk found the code it checks.
    modules = {found.module for found in ALL_IMPORTS}
    assert {"yoyaku.api.connections", "yoyaku.web.selectors", "yoyaku.availability.engine"} <= modules
    assert any(found.target == "yoyaku.availability.zones" for found in ALL_IMPORTS)


@pytest.mark.parametrize("layer", DELIVERY)
def test_only_the_wiring_imports_a_delivery_layer(layer: str) -> None:
    # web and api are two doors to the same services: what both need belongs to the app that owns it,
    # so neither door depends on the other, and nothing beneath them depends on a door (a service
    # called from the API must not carry the pages' forms or templates, nor the reverse).
    wrong = [
        str(found)
        for found in ALL_IMPORTS
        if _in(found.target, layer) and not _in(found.module, layer) and found.module not in WIRING
    ]
    assert wrong == []


# Packages that run without Django, and the yoyaku packages each may use.
PURE = {
    # The availability engine is a pure function of its inputs (epoch seconds in, slot starts out):
    # that is what lets property tests and the benchmarks drive it with no database.
    "availability": (),
    # Adapters speak to providers only; what to read and where to write comes from their callers, so
    # they can be tested against servers alone and never reach into another app's rows.
    "calendars": (),
    # The emulators start before Django does (the demo passes their addresses to the settings).
    "emulators": ("calendars",),
}


@pytest.mark.parametrize("package", sorted(PURE))
def test_pure_packages_import_no_django_and_no_other_app(package: str) -> None:
    allowed = {package, *PURE[package]}
    wrong = [
        str(found)
        for found in ALL_IMPORTS
        if _in(found.module, package)
        and (_is_django(found.target) or (_package(found.target) and _package(found.target) not in allowed))
    ]
    assert wrong == []


def _is_task(owner_module: str, name: str) -> bool:
    return isinstance(getattr(importlib.import_module(owner_module), name, None), TaskWrapper)


def _tasks_module(target: str) -> bool:
    return target.startswith("yoyaku.") and (target.endswith(".tasks") or _package(target) == "tasks")


def test_other_apps_take_only_tasks_from_a_tasks_module() -> None:
    # A tasks module is the app's background side: another app may enqueue its tasks, but what such a
    # task calls is the owner's service, to be imported from its services module. Calling plain
    # functions of a tasks module from elsewhere hides business logic where reviewers do not look, and
    # ties the caller to how the owner schedules its work.
    # The demo (no app: a program that starts the servers) queues the first syncs at start-up itself.
    allowed = {("yoyaku.demo.main", "yoyaku.calendar_sync.tasks", "queue_due_syncs")}
    wrong = []
    for found in ALL_IMPORTS:
        if not _tasks_module(found.target) or _package(found.module) == _package(found.target):
            continue
        if not found.names:
            wrong.append(f"{found} (import the tasks by name)")
            continue
        wrong += [
            f"{found}: {name} is no task"
            for name in found.names
            if (found.module, found.target, name) not in allowed and not _is_task(found.target, name)
        ]
    assert wrong == []


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    # The parser and predicates on a made-up module: a relative import resolves to its absolute name.
    source = tmp_path / "yoyaku" / "availability" / "bad.py"
    source.parent.mkdir(parents=True)
    source.write_text("from django.db import models\nfrom ..web import selectors\nfrom . import zones\n")
    found = list(_imports_of(source, root=tmp_path / "yoyaku"))
    assert [f.target for f in found] == ["django.db", "yoyaku.web", "yoyaku.availability.zones"]
    assert _is_django(found[0].target) and _in(found[1].target, "web")
    assert _tasks_module("yoyaku.crm.tasks") and _tasks_module("yoyaku.calendar_sync.tasks")
    assert not _is_task("yoyaku.calendar_sync.tasks", "queue_due_syncs")
