"""benchmarks/RESULTS.md is shared by several scripts: each rewrites only its own marked section."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def replace_section(name: str, section: str, path: Path = RESULTS) -> None:
    """Put section between the `<!-- name: start -->` and `<!-- name: end -->` markers (added after the title
    when missing), leaving the rest of the file as it is."""
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmark results\n"
    block = f"{start}\n{section.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        title, _, body = text.partition("\n")
        text = f"{title}\n\n{block}\n{body}"
    path.write_text(text, encoding="utf-8")
