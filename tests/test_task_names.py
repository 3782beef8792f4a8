"""Every Celery task name the code sends, schedules or routes names a registered task.

Tasks are sent by name (``enqueue("personalization....")``, ``send_task``): the layers below the
task module may not import it, so no import error catches a renamed task. On SQLite the tasks
run eagerly through ``inline=`` callables and never look the name up, and a worker receiving an
unknown name only logs it, so a rename on one side would pass the suite and drop the work in
production. This test reads the source for every name sent and checks each against the
registry of the Celery app the site runs; ``tests/test_real_services.py`` then runs the sends
through a real worker.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

from cms_site.celery import app as celery_app
from personalization.celery import beat_schedule, task_routes

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "personalization", ROOT / "cms_site"]
# Calls whose first argument is a task name; a function that passes its own parameter on to one
# of these (``enqueue(name, ...)``, a view's ``_run_after_commit(name, ...)``) joins the set.
SENDERS = {"send_task", "enqueue"}


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _first_argument(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg == "name":
            return keyword.value
    return None


class _Sends(ast.NodeVisitor):
    """The calls to senders in one module, with the function each sits in."""

    def __init__(self, senders: set[str]):
        self.senders = senders
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.found: list[tuple[ast.Call, list[ast.FunctionDef | ast.AsyncFunctionDef]]] = []

    def visit_FunctionDef(self, node):
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node):
        if _call_name(node) in self.senders:
            self.found.append((node, list(self.functions)))
        self.generic_visit(node)


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def _parameters(function) -> set[str]:
    args = function.args
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}


def _owner(name: str, functions):
    """The innermost enclosing function (closures included) that takes ``name`` as a parameter."""
    for function in reversed(functions):
        if name in _parameters(function):
            return function
    return None


def sent_task_names() -> tuple[dict[str, list[str]], list[str]]:
    """``({task name: [where it is sent]}, [sends whose name cannot be read from the source])``."""
    modules = []
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            modules.append((path.relative_to(ROOT), tree, _module_constants(tree)))
    senders = set(SENDERS)
    while True:
        names: dict[str, list[str]] = {}
        unreadable: list[str] = []
        wrappers: set[str] = set()
        for path, tree, constants in modules:
            visitor = _Sends(senders)
            visitor.visit(tree)
            for call, functions in visitor.found:
                where = f"{path}:{call.lineno}"
                argument = _first_argument(call)
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    names.setdefault(argument.value, []).append(where)
                elif isinstance(argument, ast.Name) and argument.id in constants:
                    names.setdefault(constants[argument.id], []).append(where)
                elif isinstance(argument, ast.Name) and (owner := _owner(argument.id, functions)):
                    wrappers.add(owner.name)  # its callers name the task
                else:
                    unreadable.append(where)
        if wrappers <= senders:
            return names, unreadable
        senders |= wrappers


@pytest.fixture(scope="module")
def registered() -> set[str]:
    import personalization.tasks  # noqa: F401  (what the worker's autodiscovery imports)

    celery_app.loader.import_default_modules()
    return {name for name in celery_app.tasks if name.startswith("personalization.")}


def test_every_task_sent_by_name_is_registered(registered):
    names, unreadable = sent_task_names()
    assert not unreadable, f"task names this test cannot read from the source: {unreadable}"
    # The two sends the issue found unchecked, so the reader above is known to see them.
    assert {"personalization.fold_profile", "personalization.recompute_segment"} <= set(names)
    unknown = {name: where for name, where in names.items() if name not in registered}
    assert not unknown, f"sent but not registered with the Celery app: {unknown}"


def test_every_scheduled_and_routed_task_is_registered(registered):
    scheduled = {entry["task"] for entry in beat_schedule().values()}
    hosted = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    routed = set(task_routes()) | set(settings.CELERY_TASK_ROUTES)
    assert scheduled and routed
    assert not scheduled - registered, "beat schedules unregistered tasks"
    assert not {n for n in hosted if n.startswith("personalization.")} - registered
    assert not routed - registered, "routes name unregistered tasks"


def test_every_registered_task_is_sent_or_scheduled(registered):
    """A task nothing sends or schedules is dead, or its sender's name drifted from it."""
    names, _ = sent_task_names()
    scheduled = {entry["task"] for entry in beat_schedule().values()}
    assert not registered - set(names) - scheduled


def test_the_documented_task_table_matches_the_registry(registered):
    """docs/install.md lists the tasks a host's workers must run: the names a host routes,
    monitors and rate-limits by."""
    table = (ROOT / "docs" / "install.md").read_text()
    documented = set(re.findall(r"^\| `(personalization\.[a-z_]+)` \|", table, flags=re.M))
    assert documented == registered
