"""The order in which `make run` seeds the demo: each service says whose demo data its own builds on.

A service's `services/<name>/seed.py` declares `SEED_AFTER: tuple[str, ...] = ("intake",)`. The runner reads
that constant from the source (it never imports a service as a library) and orders the seeds topologically.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

SEED_AFTER = "SEED_AFTER"


class SeedOrderError(ValueError):
    """A seed declares no order, names an unknown service, or the declarations form a cycle."""


def seed_after(path: Path) -> tuple[str, ...]:
    """The literal tuple of service names a seed module assigns to SEED_AFTER."""
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        target: ast.expr
        value: ast.expr | None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if not (isinstance(target, ast.Name) and target.id == SEED_AFTER):
            continue
        elements = value.elts if isinstance(value, ast.Tuple) else None
        names = [e.value for e in elements or [] if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if elements is None or len(names) != len(elements):
            raise SeedOrderError(f"{path}: {SEED_AFTER} must be a tuple of service names written out literally")
        return tuple(names)
    raise SeedOrderError(f"{path}: declare {SEED_AFTER}: tuple[str, ...] = (...) (use () for none)")


def seed_order(root: Path) -> list[str]:
    """Services with a `seed.py`, each after the services it names in SEED_AFTER."""
    seeds = {p.parent.name: p for p in sorted((root / "services").glob("*/seed.py"))}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name, path in seeds.items():
        after = seed_after(path)
        unknown = sorted(set(after) - set(seeds))
        if unknown:
            raise SeedOrderError(f"{path}: {SEED_AFTER} names {unknown}, which have no seed.py")
        sorter.add(name, *after)
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise SeedOrderError(f"the seeds' {SEED_AFTER} declarations form a cycle: {' -> '.join(exc.args[1])}") from exc
