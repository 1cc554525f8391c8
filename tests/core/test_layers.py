"""The package's layers (docs/architecture.md): a module may import its own layer and the layers
below it, never a higher one. Every module must belong to a layer, so a new module is placed
consciously. Function-level (lazy) imports count too; the few deliberate exceptions are listed
with their reason."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "fpgal"

#: lowest first; a module belongs to the first layer with a matching prefix (``x`` matches ``x`` and ``x.*``).
#: The layers are folders (fpgal/core, fpgal/model, ..., fpgal/app); result.py and relabel.py sit between.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("fpgal.core", "fpgal._names")),
    ("model", ("fpgal.model",)),
    ("result", ("fpgal.result", "fpgal.relabel")),
    ("solvers", ("fpgal.transport", "fpgal.sde")),
    ("products", ("fpgal.emission", "fpgal.analysis")),
    ("plots", ("fpgal.plots",)),
    ("app", ("fpgal.app", "fpgal.__main__")),
]

#: (importer, imported) pairs allowed to go up, each a lazy import inside one convenience method
ALLOWED_UPHILL = {
    ("fpgal.result", "fpgal.plots.crslices"): "CRDensity.plot() draws itself (lazy import in the method)",
    ("fpgal.analysis.compare", "fpgal.plots.compare"): "Comparison.write() draws its report figures (lazy)",
}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def _is_module(name: str, root: Path) -> bool:
    path = root.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def fpgal_imports(path: Path, root: Path = PACKAGE) -> set[str]:
    """Absolute names of the fpgal modules ``path`` imports (``from . import x`` gives ``pkg.x``)."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "fpgal"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "fpgal":
                continue
            submodules = {f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}", root)}
            found |= submodules or {target}
    return found - {"fpgal"}


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in MODULES if module_name(p) != "fpgal" and layer_of(module_name(p)) is None]
    assert unplaced == [], f"place these modules in a layer of tests/core/test_layers.py: {unplaced}"


def uphill_imports(path: Path, root: Path = PACKAGE) -> list[str]:
    me = module_name(path, root)
    mine = layer_of(me)
    if mine is None:          # the package __init__ (lazy facade) and unplaced modules (test above)
        return []
    uphill = []
    for target in sorted(fpgal_imports(path, root)):
        theirs = layer_of(target)
        if theirs is not None and theirs > mine and (me, target) not in ALLOWED_UPHILL:
            uphill.append(f"{me} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    return uphill


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_import_goes_up_a_layer(path):
    assert uphill_imports(path) == []


def test_the_checker_sees_an_uphill_import(tmp_path):
    """The rule can fail: a model module with a lazy import of the transport solver is reported."""
    probe = tmp_path / "fpgal" / "model" / "diffusion.py"
    probe.parent.mkdir(parents=True)
    probe.write_text((PACKAGE / "model" / "diffusion.py").read_text(encoding="utf-8")
                     + "\n\ndef _probe():\n    from ..transport import solve_steady\n", encoding="utf-8")
    assert uphill_imports(probe, tmp_path / "fpgal") == [
        "fpgal.model.diffusion (model) imports fpgal.transport (solvers)"]
    assert uphill_imports(PACKAGE / "model" / "diffusion.py") == []


def short_name_imports(path: Path) -> list[str]:
    """Imports inside the package that use a short public name (``fpgal.diffusion``) or a relative path
    through one, instead of the module's folder (``fpgal.model.diffusion``)."""
    from fpgal._names import SHORT_NAMES
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        for name in names:
            parts = name.split(".")
            if len(parts) >= 2 and parts[0] == "fpgal" and parts[1] in SHORT_NAMES:
                bad.append(f"{module}: line {node.lineno} imports {name}")
    return bad


def test_the_package_imports_modules_by_their_folders():
    """Short names are for users; the package's own imports name the layer folder, so this test and a
    reader see the layer of every import."""
    bad = [line for p in MODULES for line in short_name_imports(p)]
    assert bad == []


def test_short_names_are_the_same_modules():
    """``fpgal.diffusion`` is ``fpgal.model.diffusion`` (one object: classes and monkeypatches agree),
    submodules included; every short name points at an existing module."""
    import importlib

    import fpgal
    from fpgal._names import DEPRECATED, SHORT_NAMES
    for short, folder in SHORT_NAMES.items():
        if short in DEPRECATED:
            continue
        assert importlib.import_module(f"fpgal.{short}") is importlib.import_module(f"fpgal.{folder}"), short
    import fpgal.fields.uf23
    import fpgal.model.fields.uf23
    assert fpgal.fields.uf23 is fpgal.model.fields.uf23
    assert fpgal.fields.UF23 is fpgal.model.fields.uf23.UF23
    assert fpgal.diffusion.__spec__.name == "fpgal.model.diffusion"
    names = dir(fpgal)       # tab completion lists the short module names
    assert {"config", "pipeline", "units", "species", "boundary"} <= set(names)


def test_deprecated_short_name_warns():
    import importlib
    import sys
    import warnings
    sys.modules.pop("fpgal.io", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module("fpgal.io")
    assert module is importlib.import_module("fpgal.core.files")
    assert any(issubclass(w.category, DeprecationWarning) and "fpgal.files" in str(w.message) for w in caught)
