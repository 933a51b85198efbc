"""An extension of the API reference: docstring examples render as code.

The package's docstrings write their examples in Keras' way, `>>>` lines
after `Example:`, which Markdown would read as nested quotes (and a line
such as `result["artefacts"]["model"]` as a reference link). This extension
wraps every run of `>>>` lines, with their `...` continuations and the
output lines that follow them, in a fenced `python` block before the
docstring is rendered. The docstrings themselves are left as they are.
"""

import griffe

FENCE = "```"


def fence_doctests(text):
    """Returns `text` with each run of doctest lines inside a code fence."""
    lines = text.splitlines()
    result = []
    index = 0
    in_fence = False
    while index < len(lines):
        line = lines[index]
        stripped = line.lstrip()
        if stripped.startswith(FENCE):
            in_fence = not in_fence
            result.append(line)
            index += 1
            continue
        if in_fence or not stripped.startswith(">>>"):
            result.append(line)
            index += 1
            continue
        indent = line[:len(line) - len(stripped)]
        block = []
        while index < len(lines) and lines[index].strip():
            current = lines[index]
            if not current.startswith(indent):
                break
            block.append(current)
            index += 1
        if result and result[-1].strip():
            result.append("")
        result.extend([indent + FENCE + "python", *block, indent + FENCE])
        if index < len(lines) and lines[index].strip():
            result.append("")
    return "\n".join(result)


class DoctestBlocks(griffe.Extension):
    """Fences the doctest examples of every docstring the reference loads."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
