"""The ``---`` front matter of corpus Markdown files (authors' tips and coach's plays)."""

from __future__ import annotations

import yaml


class CorpusReadError(Exception):
    """One file could not be parsed; carries the line to point the author at."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def read_front_matter(lines: list[str], expected: str) -> tuple[dict[str, object], int]:
    """The YAML mapping between the first two ``---`` lines, and the index of the second.

    ``expected`` names what the block should hold, for the message when it is missing.
    """
    if not lines or lines[0].strip() != "---":
        raise CorpusReadError(1, f"expected front matter starting with '---' ({expected})")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise CorpusReadError(1, "front matter is not closed by a '---' line")
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 2
        raise CorpusReadError(
            line, f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(meta, dict):
        raise CorpusReadError(2, "front matter must be 'key: value' lines")
    return meta, end
