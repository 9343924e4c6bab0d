"""The package's layout rules, checked on its source with ``ast`` (nothing is imported).

* Layers: base {constants, errors, lazy, seeding, formats} < parsing < data < pretrain < translate < top {inference,
  encoded_video, subtitles, demo, plots, synthsign, commands, cli, __main__, __init__}. A module imports only from its
  own layer or earlier ones: every import statement counts, inside functions and ``TYPE_CHECKING`` blocks too,
  relative ones resolved, ``import_module("signmusketeers...")`` calls with a literal name, and the modules a
  package's lazy export table (``_LAZY = {name: module}``) names. No import cycle between packages. The one upward
  reference allowed is in the table of ``data/__init__.py``: ``CropShardDataModule`` and ``ClipFeatureDataModule``,
  kept there for users though they live in their stages.
* Sizes: no function over 60 lines, no file over 400 lines.
* Entry points: ``if __name__ == "__main__"`` only in ``__main__.py`` and ``cli.py``.

Each check returns its violations as ``path:line: problem`` lines, which the failing test prints in full.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "signmusketeers"
LAYERS = (
    ("base", {"constants", "errors", "lazy", "seeding", "formats"}),
    ("parsing", {"parsing"}),
    ("data", {"data"}),
    ("pretrain", {"pretrain"}),
    ("translate", {"translate"}),
    (
        "top",
        {
            "inference",
            "encoded_video",
            "subtitles",
            "demo",
            "plots",
            "synthsign",
            "commands",
            "cli",
            "__main__",
            "__init__",
        },
    ),
)
LAZY_TABLE = ("data/__init__.py", "_LAZY", {"CropShardDataModule", "ClipFeatureDataModule"})
ENTRY_POINTS = {"__main__.py", "cli.py"}
MAX_FUNCTION_LINES, MAX_FILE_LINES = 60, 400


def _sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _dotted(root: Path, path: Path) -> str:
    """``root/a/b.py`` → ``pkg.a.b``; ``root/a/__init__.py`` → ``pkg.a`` (``pkg`` = the root folder's name)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _units(root: Path) -> set[str]:
    """The package's top-level modules and subpackages: the units the layers are made of."""
    return {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if (p / "__init__.py").exists()}


def _unit(name: str, units: set[str]) -> str:
    """The unit a dotted name lies in; names the root package re-exports (``from pkg import X``) are ``__init__``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in units else "__init__"


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _literal_import_module(node: ast.AST) -> bool:
    """``import_module("a.b")`` or ``importlib.import_module("a.b")`` with a literal name."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
        return False
    name = getattr(node.func, "attr", getattr(node.func, "id", None))
    return name == "import_module" and isinstance(node.args[0].value, str)


def imports_of(root: Path, path: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every import of the package in ``path`` (``from a import b`` gives ``a.b``)."""
    module, is_package = _dotted(root, path), path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif _literal_import_module(node):
            found.append((node.lineno, node.args[0].value))
        elif (
            is_package
            and isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and any(getattr(t, "id", None) == LAZY_TABLE[1] for t in node.targets)
        ):
            allowed = LAZY_TABLE[2] if path.relative_to(root).as_posix() == LAZY_TABLE[0] else set()
            found += [
                (value.lineno, f"{value.value}.{key.value}")
                for key, value in zip(node.value.keys, node.value.values)
                if isinstance(value, ast.Constant) and isinstance(key, ast.Constant) and key.value not in allowed
            ]
    return [(line, name) for line, name in found if name.split(".")[0] == root.name]


def _layer(unit: str) -> int | None:
    return next((i for i, (_, members) in enumerate(LAYERS) if unit in members), None)


def _edges(root: Path) -> list[tuple[str, str, str]]:
    """``(importing unit, imported unit, "path:line")`` for every import between two units."""
    units, edges = _units(root), []
    for path in _sources(root):
        source = _unit(_dotted(root, path), units)
        for line, name in imports_of(root, path):
            edges.append((source, _unit(name, units), f"{path.relative_to(root.parent)}:{line}"))
    return edges


def layer_violations(root: Path) -> list[str]:
    """Imports of a later layer, and units that belong to no layer."""
    problems = [f"{root.name}/{unit}: belongs to no layer" for unit in sorted(_units(root)) if _layer(unit) is None]
    for source, target, where in dict.fromkeys(_edges(root)):  # one line per import statement and unit
        if source == target or None in (_layer(source), _layer(target)):
            continue
        if _layer(target) > _layer(source):
            problems.append(
                f"{where}: {source} ({LAYERS[_layer(source)][0]} layer) imports {target} "
                f"({LAYERS[_layer(target)][0]} layer)"
            )
    return problems


def cycle_violations(root: Path) -> list[str]:
    """Import cycles between units: each strongly connected group once, with the imports that close it."""
    graph: dict[str, dict[str, str]] = {}
    for source, target, where in _edges(root):
        if source != target:
            graph.setdefault(source, {}).setdefault(target, where)

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), {}):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reach = {unit: reaches(unit) for unit in graph}
    problems, reported = [], set()
    for unit in sorted(graph):
        group = sorted(u for u in reach[unit] if unit in reach.get(u, set())) if unit in reach[unit] else []
        if group and frozenset(group) not in reported:
            reported.add(frozenset(group))
            links = [f"{a} -> {b} ({graph[a][b]})" for a in group for b in group if b in graph.get(a, {})]
            problems.append(f"import cycle between {', '.join(group)}: " + "; ".join(links))
    return problems


def lazy_table_violations(root: Path) -> list[str]:
    """The lazy alias table must name exactly the two DataModules, by module strings of the package."""
    relative, variable, names = LAZY_TABLE
    path = root / relative
    if not path.exists():
        return []
    tables = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == variable for t in node.targets)
        and isinstance(node.value, ast.Dict)
    ]
    if len(tables) != 1:
        return [f"{root.name}/{relative}: expected one dict {variable}, found {len(tables)}"]
    keys = {getattr(k, "value", None) for k in tables[0].keys}
    values = [getattr(v, "value", None) for v in tables[0].values]
    where = f"{root.name}/{relative}:{tables[0].lineno}"
    problems = [] if keys == names else [f"{where}: {variable} names {sorted(keys, key=str)}, allowed {sorted(names)}"]
    problems += [
        f"{where}: {variable} value {v!r} is not a module of {root.name}"
        for v in values
        if not (isinstance(v, str) and v.startswith(f"{root.name}."))
    ]
    return problems


def size_violations(root: Path) -> list[str]:
    problems = []
    for path in _sources(root):
        text, where = path.read_text(), path.relative_to(root.parent)
        if (lines := len(text.splitlines())) > MAX_FILE_LINES:
            problems.append(f"{where}: {lines} lines (at most {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(
                        f"{where}:{node.lineno}: function {node.name} has {length} lines (at most {MAX_FUNCTION_LINES})"
                    )
    return problems


def _is_main_guard(node: ast.AST) -> bool:
    if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)):
        return False
    sides = [node.test.left, *node.test.comparators]
    return any(getattr(s, "id", None) == "__name__" for s in sides) and any(
        getattr(s, "value", None) == "__main__" for s in sides
    )


def entry_point_violations(root: Path) -> list[str]:
    allowed = {root / name for name in ENTRY_POINTS}
    return [
        f'{path.relative_to(root.parent)}:{node.lineno}: `if __name__ == "__main__"` outside '
        f"{' and '.join(sorted(ENTRY_POINTS))}"
        for path in _sources(root)
        if path not in allowed
        for node in ast.walk(ast.parse(path.read_text()))
        if _is_main_guard(node)
    ]


CHECKS = (layer_violations, cycle_violations, lazy_table_violations, size_violations, entry_point_violations)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_package_follows_the_layout_rules(check):
    problems = check(PACKAGE)
    assert not problems, f"{len(problems)} violation(s):\n" + "\n".join(problems)


# ------------------------------------------------------------------------------------------ the checks themselves

CLEAN = {
    "__init__.py": "from pkg.parsing import Parser\n",
    "__main__.py": 'from pkg.cli import main\n\nif __name__ == "__main__":\n    main()\n',
    "constants.py": "from pkg.formats import records\n\nSIZE = 224\n",
    "errors.py": "from pkg.constants import SIZE\n",
    "formats/__init__.py": "",
    "formats/records.py": "FIELDS = ()\n",
    "parsing/__init__.py": "from .video import Parser\n",
    "parsing/video.py": "from ..constants import SIZE\n\n\nclass Parser:\n    pass\n",
    "data/__init__.py": (
        'import importlib\n\n_LAZY = {"CropShardDataModule": "pkg.pretrain.datamodule",\n'
        '         "ClipFeatureDataModule": "pkg.translate.datamodule"}\n\n\n'
        "def __getattr__(name):\n    return getattr(importlib.import_module(_LAZY[name]), name)\n"
    ),
    "data/shards.py": "def read():\n    from pkg.parsing.video import Parser\n\n    return Parser\n",
    "pretrain/__init__.py": "",
    "pretrain/datamodule.py": "from pkg.data.shards import read\n",
    "translate/__init__.py": "from . import datamodule\n",
    "translate/datamodule.py": "from pkg.pretrain.datamodule import read\nfrom pkg import errors\n",
    "commands/__init__.py": "",
    "commands/fit.py": "import pkg.translate.datamodule\n",
    "cli.py": "import importlib\n\n\ndef main():\n    importlib.import_module('pkg.commands.fit')\n\n\n"
    "if __name__ == '__main__':\n    main()\n",
}


def _tree(tmp_path: Path, changes: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for relative, text in {**CLEAN, **changes}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_a_tree_that_follows_the_rules_passes(tmp_path):
    root = _tree(tmp_path, {})
    assert "pkg.parsing.video.Parser" in {name for _, name in imports_of(root, root / "parsing/__init__.py")}
    assert imports_of(root, root / "data/shards.py") == [(2, "pkg.parsing.video.Parser")]
    for check in CHECKS:
        assert check(root) == [], check.__name__


@pytest.mark.parametrize(
    "relative, text, expected",
    [
        (
            "parsing/video.py",
            "def f():\n    from pkg.data import shards\n",  # inside a function
            "pkg/parsing/video.py:2: parsing (parsing layer) imports data (data layer)",
        ),
        (
            "pretrain/module.py",
            "from ..translate.datamodule import x\n",  # relative, resolved
            "pkg/pretrain/module.py:1: pretrain (pretrain layer) imports translate (translate layer)",
        ),
        (
            "data/crops.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.pretrain\n",
            "pkg/data/crops.py:3: data (data layer) imports pretrain (pretrain layer)",
        ),
        (
            "data/late.py",
            "import importlib\nimportlib.import_module('pkg.translate.module')\n",
            "pkg/data/late.py:2: data (data layer) imports translate (translate layer)",
        ),
        ("seeding.py", "from pkg import cli\n", "pkg/seeding.py:1: seeding (base layer) imports cli (top layer)"),
        ("errors.py", "import pkg\n", "pkg/errors.py:1: errors (base layer) imports __init__ (top layer)"),
        ("utils.py", "", "pkg/utils: belongs to no layer"),
    ],
)
def test_layer_violations_name_the_file_line_and_layers(tmp_path, relative, text, expected):
    assert layer_violations(_tree(tmp_path, {relative: text})) == [expected]


def test_cycles_between_packages_of_one_layer(tmp_path):
    root = _tree(tmp_path, {"demo.py": "import pkg.plots\n", "plots.py": "def f():\n    from pkg import demo\n"})
    assert layer_violations(root) == []
    assert cycle_violations(root) == [
        "import cycle between demo, plots: demo -> plots (pkg/demo.py:1); plots -> demo (pkg/plots.py:2)"
    ]


def test_the_lazy_table_holds_exactly_the_two_datamodules(tmp_path):
    table = "_LAZY = {'CropShardDataModule': 'pkg.pretrain.datamodule', 'Probe': 'pkg.pretrain.probe'}\n"
    assert lazy_table_violations(_tree(tmp_path, {"data/__init__.py": table})) == [
        "pkg/data/__init__.py:1: _LAZY names ['CropShardDataModule', 'Probe'], "
        "allowed ['ClipFeatureDataModule', 'CropShardDataModule']"
    ]
    assert lazy_table_violations(_tree(tmp_path / "b", {"data/__init__.py": "X = 1\n"})) == [
        "pkg/data/__init__.py: expected one dict _LAZY, found 0"
    ]


def test_size_limits_are_inclusive(tmp_path):
    def function(name: str, lines: int) -> str:
        return f"def {name}():\n" + "    x = 1\n" * (lines - 1)

    root = _tree(
        tmp_path,
        {
            "plots.py": function("fits", 60) + function("too_long", 61),
            "demo.py": "x = 1\n" * 400,
            "subtitles.py": "x = 1\n" * 401,
        },
    )
    assert size_violations(root) == [
        "pkg/plots.py:61: function too_long has 61 lines (at most 60)",
        "pkg/subtitles.py: 401 lines (at most 400)",
    ]


def test_entry_points_only_in_main_and_cli(tmp_path):
    guard = "def main():\n    pass\n\n\nif '__main__' == __name__:\n    main()\n"
    root = _tree(tmp_path, {"translate/encoders.py": guard})
    assert entry_point_violations(root) == [
        'pkg/translate/encoders.py:5: `if __name__ == "__main__"` outside __main__.py and cli.py'
    ]
