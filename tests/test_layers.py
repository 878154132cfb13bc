"""The house rules, checked on the source: import direction, sizes, declared dependencies."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each layer's folder and rank; a module may import its own layer or any lower rank.
LAYERS = {"neuroforge": ("neuroforge", 7), "graphs": ("graphs", 6), "agents": ("agents", 5),
          "tools": ("tools", 4), "models": ("models", 3), "analysis": ("analysis", 3),
          "memory": ("memory", 2), "knowledge": ("knowledge", 1)}


def _sources() -> list[tuple[str, Path]]:
    """(layer, file) for every module that installs, migrations excluded."""
    return [(layer, path) for layer, (folder, _) in LAYERS.items()
            for path in sorted((ROOT / folder).rglob("*.py")) if "migrations" not in path.parts]


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "neuroforge":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "neuroforge"


def test_imports_only_run_downwards() -> None:
    backwards = []
    for layer, path in _sources():
        rank = LAYERS[layer][1]
        for line, module in _imports(path):
            target = _layer_of(module)
            if target is not None and target != layer and LAYERS[target][1] >= rank:
                backwards.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert backwards == []


def test_nothing_imports_the_folders_as_top_level_packages() -> None:
    """Only ``neuroforge.*`` is installed; ``import agents`` would find someone else's."""
    bare = []
    for folder in [*{f for f, _ in LAYERS.values()}, "tests", "benchmarks", "examples"]:
        for path in (ROOT / folder).rglob("*.py"):
            for line, module in _imports(path):
                if module.split(".")[0] in LAYERS and module.split(".")[0] != "neuroforge":
                    bare.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert bare == []


def test_the_layer_rule_catches_a_backward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from neuroforge.graphs.optimize import create_optimize_graph\n")
    [(_, module)] = _imports(probe)
    assert LAYERS[_layer_of(module) or ""][1] > LAYERS["knowledge"][1]


def test_shell_modules_and_functions_stay_small() -> None:
    too_long = [f"{p.relative_to(ROOT)}: {n} lines" for p in (ROOT / "neuroforge").rglob("*.py")
                if (n := len(p.read_text().splitlines())) > 300]
    for _, path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: "
                                    f"{length} lines")
    assert too_long == []


def test_every_imported_third_party_package_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The postgres extra's packages are imported only when a PostgreSQL URL is configured,
    # behind an ImportError that names the extra.
    needed = [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    declared = {_normal(d.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0])
                for d in needed}
    owners = packages_distributions()
    missing = set()
    for _, path in _sources():
        for _, module in _imports(path):
            top = module.split(".")[0]
            if top == "neuroforge" or top in sys.stdlib_module_names or top == "__future__":
                continue
            dists = {_normal(d) for d in owners.get(top, [top])}
            if not dists & declared:
                missing.add(f"{top} ({', '.join(sorted(dists))})")
    assert missing == set()


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


PACKAGES = sorted(str(init.parent.relative_to(ROOT)) for folder, _ in LAYERS.values()
                  for init in (ROOT / folder).rglob("__init__.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_states_its_public_api(package: str) -> None:
    init = ROOT / package / "__init__.py"
    tree = ast.parse(init.read_text())
    assert ast.get_docstring(tree), f"{package}/__init__.py has no docstring"
    names = [n for n in tree.body if isinstance(n, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)]
    assert names, f"{package}/__init__.py has no __all__"
    listed = ast.literal_eval(names[0].value)
    modules = {p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in (ROOT / package).iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    if package == "neuroforge":  # the layers are mapped under it at install time
        modules |= set(LAYERS) - {"neuroforge"}
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)}
    assert set(listed) - modules - defined == set(), f"{package}.__all__ names what is not there"
    if set(listed) & modules:  # a package whose API is its modules lists all of them
        assert modules - set(listed) - {"__main__"} == set(), f"{package}.__all__ misses modules"


def test_no_import_loops() -> None:
    """Between modules, counting imports inside functions too (they are loops all the same)."""
    import networkx as nx

    graph = nx.DiGraph()
    names = {}
    for layer, path in _sources():
        folder = ROOT / LAYERS[layer][0]
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        prefix = ["neuroforge"] if layer == "neuroforge" else ["neuroforge", layer]
        names[path] = ".".join(prefix + parts)
    known = set(names.values())
    for path, name in names.items():
        for _, module in _imports(path):
            while module and module not in known:  # `from pkg.mod import name` -> pkg.mod
                module = module.rpartition(".")[0]
            if module and module != name and not name.startswith(module + "."):
                graph.add_edge(name, module)
    assert list(nx.simple_cycles(graph)) == []
