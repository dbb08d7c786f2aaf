"""The HTML of a report: one self-contained page (inline CSS, images as base64 PNG or JPEG, no scripts)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f4f4f4; text-align: left; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
img.figure { max-width: 100%; } img.example { width: 96px; height: 96px; image-rendering: pixelated; }
img.photo { min-width: 96px; max-width: 160px; height: auto; display: block; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.card { width: 200px; border: 1px solid #ddd; padding: 6px; font-size: 0.9em; }
.note { color: #666; font-size: 0.9em; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
"""


@dataclass
class Section:
    """One titled part of the report; body is HTML."""

    title: str
    body: str


def escape(value) -> str:
    """Any value as HTML-escaped text."""
    return html.escape(str(value))


def image(encoded: bytes, alt: str, css_class: str = "figure", mime: str = "image/png") -> str:
    """An <img> holding the image inline as a data: URI, so the page needs no other file."""
    data = base64.b64encode(encoded).decode("ascii")
    return f'<img class="{css_class}" alt="{escape(alt)}" src="data:{mime};base64,{data}">'


def example(picture, alt: str) -> str:
    """An example image (figures.ExampleImage): a photo smooth at its own size, a small drawing enlarged to 96 px
    with sharp pixels (a 32 px shapes image would blur when scaled smoothly)."""
    return image(picture.data, alt, "photo" if picture.photo else "example", picture.mime)


def format_value(value) -> str:
    """Numbers to 4 significant places, everything else as text."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(headers: list[str], rows: list[list], raw_columns: tuple[int, ...] = ()) -> str:
    """An HTML table (no header row when headers is empty).

    Cells are escaped, except in raw_columns, which hold HTML (images).
    """
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    head = f"<thead><tr>{head}</tr></thead>" if headers else ""
    body = []
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            number = ' class="number"' if isinstance(value, (int, float)) else ""
            text = value if index in raw_columns else escape(format_value(value))
            cells.append(f"<td{number}>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def card(picture, alt: str, lines: list[str]) -> str:
    """A gallery card: an example image (figures.ExampleImage) with lines of (escaped) text under it."""
    text = "".join(f"<div>{escape(line)}</div>" for line in lines)
    return f'<div class="card">{example(picture, alt)}{text}</div>'


def gallery(cards: list[str]) -> str:
    """Cards side by side, wrapping."""
    return f'<div class="gallery">{"".join(cards)}</div>'


def note(text: str) -> str:
    """A grey explanatory paragraph."""
    return f'<p class="note">{escape(text)}</p>'


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole page."""
    parts = [f"<section><h2>{escape(s.title)}</h2>{s.body}</section>" for s in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{note(subtitle)}{''.join(parts)}</body></html>\n")
