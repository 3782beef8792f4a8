"""The code's shape, checked: hooks only register, and no module reaches into another's
private helpers (a helper two modules need has a public home)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import personalization
from personalization import compat

PACKAGE = Path(personalization.__file__).parent


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), filename=str(path))


def _is_hooks_register(node: ast.expr) -> bool:
    """``hooks.register(...)`` (a call) or ``hooks.register`` used as a decorator."""
    target = node.func if isinstance(node, ast.Call) else node
    return (
        isinstance(target, ast.Attribute)
        and target.attr == "register"
        and isinstance(target.value, ast.Name)
        and target.value.id == "hooks"
    )


def test_wagtail_hooks_only_registers():
    tree = ast.parse((PACKAGE / "wagtail_hooks.py").read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Expr) and _is_hooks_register(node.value):
            continue
        if (
            isinstance(node, ast.FunctionDef)
            and node.decorator_list
            and all(_is_hooks_register(d) for d in node.decorator_list)
            and len(node.body) == 1
        ):
            continue  # a one-line adapter from the hook's signature to the real function
        found.append(f"line {node.lineno}: {ast.dump(node)[:60]}")
    assert found == []


def test_no_module_imports_a_private_name_from_another():
    found = []
    for path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{path.relative_to(PACKAGE)}: {node.module}.{alias.name}")
    assert found == []


def test_permission_policies_are_registered_when_the_app_is_ready():
    """Wagtail 8's registry holds our policies (``AppConfig.ready`` registers them, before any
    admin view asks), so no admin view gets Wagtail's fallback (Django auth) policy."""
    if not compat.HAS_POLICY_REGISTRY:
        pytest.skip("Wagtail 7.x has no policy registry (the viewsets return the policies)")
    from wagtail.permissions import policy_registry

    from personalization.experiments.models import Experiment
    from personalization.scoring.models import ModelVersion, Persona
    from personalization.segments.models import Segment
    from personalization.views.experiments import experiment_permission_policy
    from personalization.views.scoring import model_permission_policy, persona_permission_policy
    from personalization.views.segments import segment_permission_policy

    assert policy_registry.get_by_type(Segment) is segment_permission_policy
    assert policy_registry.get_by_type(Experiment) is experiment_permission_policy
    assert policy_registry.get_by_type(ModelVersion) is model_permission_policy
    assert policy_registry.get_by_type(Persona) is persona_permission_policy


SERVICE_SKIPS = (
    "needs_postgres",
    "needs_worker",
    "needs_redis_server",
    'reason="needs redis-server"',
    "needs Redis as the cache",
    "the buffer needs Redis",
)


def test_the_readme_names_every_test_file_that_skips_without_a_service():
    root = PACKAGE.parent
    readme = (root / "README.md").read_text()
    skipping = sorted(
        str(path.relative_to(root))
        for path in (root / "tests").rglob("test_*.py")
        if path.name != "test_layout.py"
        and any(marker in path.read_text() for marker in SERVICE_SKIPS)
    )
    assert skipping, "the markers above are what the tests use"
    assert [path for path in skipping if f"`{path}`" not in readme] == []


def test_skip_reasons_are_printed():
    import tomllib

    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    assert "-rs" in pyproject["tool"]["pytest"]["ini_options"]["addopts"].split()
