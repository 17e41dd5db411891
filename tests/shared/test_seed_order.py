"""The runner seeds services in the order their own seed modules declare, and refuses a wrong declaration."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.devstack.seeds import SeedOrderError, seed_order
from shared.devstack.stack import discover_services, repo_root


def write_seeds(root: Path, seeds: dict[str, str]) -> Path:
    for name, declaration in seeds.items():
        folder = root / "services" / name
        folder.mkdir(parents=True)
        (folder / "seed.py").write_text(f'"""Seed."""\n\nimport sys\n\n{declaration}\n', encoding="utf-8")
    return root


def test_the_repository_seeds_intake_before_scheduling() -> None:
    order = seed_order(repo_root())
    assert order.index("intake") < order.index("scheduling")
    assert "gateway" not in discover_services(repo_root())


def test_order_follows_the_declarations_not_the_names(tmp_path: Path) -> None:
    root = write_seeds(
        tmp_path,
        {
            "alpha": 'SEED_AFTER: tuple[str, ...] = ("zulu",)',
            "mike": 'SEED_AFTER = ("alpha", "zulu")',
            "zulu": "SEED_AFTER: tuple[str, ...] = ()",
        },
    )
    assert seed_order(root) == ["zulu", "alpha", "mike"]


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ({"a": 'SEED_AFTER = ("b",)', "b": 'SEED_AFTER = ("a",)'}, "cycle"),
        ({"a": 'SEED_AFTER = ("nobody",)'}, "nobody"),
        ({"a": "X = 1"}, "declare SEED_AFTER"),
        ({"a": "SEED_AFTER = tuple(sys.argv)"}, "written out literally"),
    ],
)
def test_refuses_a_cycle_an_unknown_name_or_no_declaration(tmp_path: Path, seeds: dict[str, str], message: str) -> None:
    with pytest.raises(SeedOrderError, match=message):
        seed_order(write_seeds(tmp_path, seeds))
