"""No function of the package is longer than MAX_LINES lines (issue 16: a newcomer reads a function at once).

A function's length is counted from its ``def`` line to its last line (docstring, comments and blank
lines included, decorators not); a nested function counts towards its parent too. A longer function is
split into named steps. Only generated or table code may be listed in ALLOWED, each with its reason;
an entry that is no longer needed fails too, so the list only shrinks.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "fpgal"
MAX_LINES = 60

#: "path relative to the repository::qualified function name" -> why it may be longer
ALLOWED: dict[str, str] = {}


def long_functions(root: Path, max_lines: int = MAX_LINES) -> dict[str, int]:
    """``{"path::qualname": lines}`` of the functions under ``root`` longer than ``max_lines`` lines."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str, path: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = child.end_lineno - child.lineno + 1
                    if lines > max_lines:
                        found[f"{path}::{name}"] = lines
                visit(child, name + ".", path)
            else:
                visit(child, prefix, path)

    for file in sorted(root.rglob("*.py")):
        rel = file.relative_to(root.parent).as_posix()
        visit(ast.parse(file.read_text(encoding="utf-8"), filename=str(file)), "", rel)
    return found


def test_no_function_longer_than_the_limit():
    too_long = {k: v for k, v in long_functions(PACKAGE).items() if k not in ALLOWED}
    listing = "\n".join(f"  {k.replace('::', ':')}: {v} lines" for k, v in sorted(too_long.items()))
    assert not too_long, (f"functions over {MAX_LINES} lines (split them into named steps, "
                          f"docs/architecture.md):\n{listing}")


def test_allow_list_has_reasons_and_no_stale_entries():
    found = long_functions(PACKAGE)
    assert all(reason.strip() for reason in ALLOWED.values())
    stale = sorted(k for k in ALLOWED if k not in found)
    assert not stale, f"now within {MAX_LINES} lines or gone, remove from ALLOWED: {stale}"


def test_counter_flags_61_lines_and_not_60(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    sixty = "def ok():\n" + "".join(f"    x{i} = {i}\n" for i in range(59))                  # 1 + 59 lines
    sixty_one = "class C:\n    def long(self):\n" + "".join(f"        x{i} = {i}\n" for i in range(60))
    (pkg / "m.py").write_text(sixty + "\n\n" + sixty_one)
    assert long_functions(pkg) == {"pkg/m.py::C.long": 61}
