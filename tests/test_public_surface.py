"""The public surface is honest: no private name crosses a module boundary, and what one module takes
from another is that module's public, documented API.

Every import between the project's own modules (``replica``, ``solvers``, ``experiments``,
``benchmarks``, ``tests``, ``docs``) is read from the source (``ast``): the names imported, and the
attributes read from a module imported as a whole. A name starting with ``_`` is private to its module;
a module with ``__all__`` exports only those names; a callable or class that crosses has a docstring.
The library itself never imports the experiments (tested in tests/solvers/test_translasso_cv.py).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("replica", "solvers", "experiments", "benchmarks", "tests", "docs")


def _sources():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, node: ast.ImportFrom) -> str | None:
    """The absolute name of ``from ... import`` in ``module`` (None: not one of the project's)."""
    if node.level:
        base = module.split(".")
        is_package = (ROOT / Path(*base) / "__init__.py").exists()
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        name = ".".join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    return name if name.split(".")[0] in PACKAGES else None


def crossings():
    """(importing module, source module, name, line) of every name one project module takes from another."""
    out = []
    for path in _sources():
        module = _module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        aliases = {}  # local name → project module imported whole
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(module, node)
                if source is None:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if _is_module(submodule):
                        aliases[alias.asname or alias.name] = submodule
                    else:
                        out.append((module, source, alias.name, node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                out.append((module, aliases[node.value.id], node.attr, node.lineno))
    return out


def _is_module(name: str) -> bool:
    path = ROOT / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_the_walk_sees_imports_of_every_kind():
    seen = {(m, s, n) for m, s, n, _ in crossings()}
    assert ("solvers.cv", "solvers.problem", "finetune_inputs") in seen  # relative
    assert ("experiments.imdb", "solvers.estimate", "similarity") in seen  # absolute
    assert any(m == "tests.solvers.test_backend" and s == "solvers.lasso.weighted" for m, s, _ in seen)  # module alias


def test_no_private_name_crosses_a_module_boundary():
    private = [f"{m}:{line} takes {s}.{n}" for m, s, n, line in crossings() if n.startswith("_") and m != s]
    assert not private, "\n".join(private)


@pytest.mark.parametrize("package", ["replica", "solvers"])
def test_what_crosses_is_exported_and_documented(package):
    problems = []
    for module, source, name, line in crossings():
        if not source.startswith(package) or module == source or name.startswith("_"):
            continue
        mod = importlib.import_module(source)
        exported = getattr(mod, "__all__", None)
        if exported is not None and name not in exported:
            problems.append(f"{module}:{line} takes {source}.{name}, not in its __all__")
            continue
        obj = getattr(mod, name, None)
        if obj is None:
            problems.append(f"{module}:{line} takes {source}.{name}, which does not exist")
        elif (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            problems.append(f"{module}:{line} takes {source}.{name}, which has no docstring")
    assert not problems, "\n".join(problems)
