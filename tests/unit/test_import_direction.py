"""Which room may import which (docs/design.md section 1): the floor plan, checked.

Every ``import`` and ``from ... import`` in the package is read with :mod:`ast`, including the
ones inside functions, so a lazy import cannot slip past.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# room -> the rooms it must not import from
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "scorers": ("streams", "tests"),
    "streams.settings": ("streams.runtime", "streams.tools", "streams.laptop", "streams.cli",
                         "tests"),
    "streams.kafka_clients": ("streams.runtime", "streams.tools", "streams.laptop",
                              "streams.cli", "tests"),
    # The worker never waits on notifications: it does not import them.
    "streams.runtime": ("streams.notify", "streams.tools", "streams.laptop", "streams.cli",
                        "tests"),
    "streams.notify": ("streams.tools", "streams.laptop", "streams.cli", "tests"),
    "streams.tools": ("streams.laptop", "streams.cli", "tests"),
    "streams.laptop": ("streams.cli", "tests"),
    "streams.cli": ("tests",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> list[Path]:
    return sorted([*ROOT.joinpath("scorers").rglob("*.py"),
                   *ROOT.joinpath("streams").rglob("*.py")])


def imported_names(path: Path, module: str | None = None) -> set[str]:
    """Every module ``path`` (the module ``module``) imports, as absolute dotted names."""
    names: set[str] = set()
    package = (module or module_name(path)).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def room_of(module: str) -> str | None:
    matches = [room for room in FORBIDDEN if module == room or module.startswith(room + ".")]
    return max(matches, key=len) if matches else None


def inside(name: str, room: str) -> bool:
    return name == room or name.startswith(room + ".")


def test_every_package_module_belongs_to_a_room() -> None:
    homeless = [module_name(p) for p in package_modules()
                if room_of(module_name(p)) is None and module_name(p) != "streams"]
    assert homeless == [], f"modules outside every room (add them to a room): {homeless}"


@pytest.mark.parametrize("path", package_modules(), ids=module_name)
def test_imports_follow_the_floor_plan(path: Path) -> None:
    module = module_name(path)
    room = room_of(module)
    if room is None:
        return  # the streams package itself (checked above)
    wrong = sorted(name for name in imported_names(path)
                   for banned in FORBIDDEN[room] if inside(name, banned))
    assert wrong == [], f"{module} ({room}) imports {wrong}, against docs/design.md section 1"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function, and a relative one, are found."""
    source = tmp_path / "probe.py"
    source.write_text("def f() -> None:\n    from streams.laptop.stack import stack_up\n"
                      "    from ..cli import main\n    import tests.support\n")
    names = imported_names(source, "streams.runtime.probe")
    assert {"streams.laptop.stack", "streams.cli", "tests.support"} <= names
