"""Code metrics of the architecture issue, measured the same way each time: ebm-core's exported
names, source lines per package, and the share of defensive lines (checks that refuse inputs).

    uv run python benchmarks/code_metrics.py

A defensive line belongs to a ``raise`` or ``assert`` statement, to the test of an ``if`` whose body
only raises, to a call of a ``check_*`` / ``_check*`` function, or to the body of such a function.
Docstrings, comments and blank lines are not counted as code.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def _defensive_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Raise, ast.Assert)):
            lines.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, ast.If) and not node.orelse and all(isinstance(b, ast.Raise) for b in node.body):
            lines.update(range(node.lineno, node.test.end_lineno + 1))
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name.startswith(("check_", "_check")):
                lines.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, ast.FunctionDef) and node.name.startswith(("check_", "_check")):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def package_metrics(src: Path) -> tuple[int, int, int]:
    """(lines, code lines, defensive code lines) of the ``.py`` files under ``src``."""
    lines = code = defensive = 0
    for path in sorted(src.rglob("*.py")):
        text = path.read_text()
        tree = ast.parse(text)
        numbered = {i + 1 for i, line in enumerate(text.splitlines())
                    if line.strip() and not line.strip().startswith("#")}
        numbered -= _docstring_lines(tree)
        lines += len(text.splitlines())
        code += len(numbered)
        defensive += len(_defensive_lines(tree) & numbered)
    return lines, code, defensive


def main() -> None:
    import ebm_core

    print(f"ebm-core exported names: {len(ebm_core.__all__)}")
    print(f"{'package':<15}{'lines':>7}{'code':>7}{'defensive':>11}{'share':>8}")
    for src in sorted(ROOT.glob("packages/*/src/*")):
        lines, code, defensive = package_metrics(src)
        print(f"{src.parent.parent.name:<15}{lines:>7}{code:>7}{defensive:>11}{100 * defensive / code:>7.1f}%")


if __name__ == "__main__":
    main()
