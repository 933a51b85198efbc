"""The share of the package's code lines that check arguments.

Usage: `python -m benchmarks.check_lines [--package keras_ae] [--json PATH]`.

The share is of the package's non-blank lines (docstrings and comments
included, as the figures of other libraries quoted beside it were counted);
the share of code lines only (no docstring, no comment) is printed beside it.
A line is a *check line* when it is code and belongs to

* a function whose name starts with `check_` or `_check` (the check helpers),
* an `if` statement whose body only raises (its test, its message and the
  `raise`), or any other `raise` of `ValueError`, `TypeError` or an `OSError`,
* a statement that calls a `check_*` function (`x = check_positive_int(...)`).

The figure measures the structure: checks made
once, where the argument is owned, take few lines.
"""

import argparse
import ast
import io
import json
import os
import tokenize

RAISED = {"ValueError", "TypeError", "FileNotFoundError", "FileExistsError",
          "NotADirectoryError", "IsADirectoryError", "PermissionError",
          "OSError", "UnsupportedOpsError"}


def _code_lines(source, tree):
    """Line numbers that hold code (not blank, comment-only or docstring)."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                          tokenize.INDENT, tokenize.DEDENT,
                          tokenize.ENDMARKER):
            continue
        lines.update(range(token.start[0], token.end[0] + 1))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(
                    getattr(first, "value", None), ast.Constant) and isinstance(
                    first.value.value, str):
                lines.difference_update(range(first.lineno,
                                              first.end_lineno + 1))
    return lines


def _span(node):
    return set(range(node.lineno, node.end_lineno + 1))


def _calls_check(node):
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            name = getattr(func, "id", None) or getattr(func, "attr", "")
            if name.startswith(("check_", "_check")):
                return True
    return False


def _raises(node):
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return (getattr(exc, "id", None) or getattr(exc, "attr", "")) in RAISED


def check_lines_of(tree):
    """Line numbers of the check lines of a parsed module."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                node.name.startswith(("check_", "_check"))):
            found |= _span(node)
        elif isinstance(node, ast.If) and node.body and all(
                _raises(child) for child in node.body) and not node.orelse:
            found |= _span(node)
        elif _raises(node):
            found |= _span(node)
        elif isinstance(node, (ast.Assign, ast.Expr, ast.AnnAssign,
                               ast.Return)) and _calls_check(node):
            found |= _span(node)
    return found


def measure(package):
    """Returns `{"code_lines", "check_lines", "share", "files": {...}}`."""
    files, total, code_total, checks = {}, 0, 0, 0
    for root, _, names in os.walk(package):
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                source = f.read()
            tree = ast.parse(source)
            code = _code_lines(source, tree)
            checked = check_lines_of(tree) & code
            non_blank = sum(1 for line in source.splitlines() if line.strip())
            files[os.path.relpath(path, package)] = {
                "non_blank_lines": non_blank, "code_lines": len(code),
                "check_lines": len(checked)}
            total += non_blank
            code_total += len(code)
            checks += len(checked)
    return {"non_blank_lines": total, "code_lines": code_total,
            "check_lines": checks, "share": checks / total if total else 0.0,
            "share_of_code": checks / code_total if code_total else 0.0,
            "files": dict(sorted(files.items()))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="keras_ae")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--files", action="store_true", help="one line a file")
    args = parser.parse_args(argv)
    result = measure(args.package)
    if args.files:
        for path, figures in sorted(result["files"].items(),
                                    key=lambda kv: -kv[1]["check_lines"]):
            share = figures["check_lines"] / max(1, figures["non_blank_lines"])
            print(f"{figures['check_lines']:5d} / "
                  f"{figures['non_blank_lines']:5d}  {share:6.1%}  {path}")
    print(f"{args.package}: {result['check_lines']} check lines of "
          f"{result['non_blank_lines']} non-blank lines: {result['share']:.1%} "
          f"({result['share_of_code']:.1%} of its {result['code_lines']} lines "
          "of code)")
    if args.json:
        with open(args.json, "x") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
