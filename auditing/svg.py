"""A minimal SVG writer for the diagrams: integer coordinates and a fixed element order, so the same
drawing is always the same bytes (no graphviz, no fonts measured: text width is estimated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

CHAR_WIDTH = 7  # px per character of 12 px monospace text, a safe over-estimate
LINE_HEIGHT = 16
FONT = 'font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="12"'


def text_width(text: str) -> int:
    return CHAR_WIDTH * len(text)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Drawing:
    """Elements are written in the order they are added; callers add them in a sorted order."""

    elements: list[str] = field(default_factory=list)

    def rect(
        self,
        x: int,
        y: int,
        width: int,
        height: int,
        *,
        fill: str,
        stroke: str = "#333",
        radius: int = 6,
        dashed: bool = False,
    ) -> None:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        size = f'x="{x}" y="{y}" width="{width}" height="{height}" rx="{radius}"'
        self.elements.append(f'<rect {size} fill="{fill}" stroke="{stroke}"{dash}/>')

    def text(
        self, x: int, y: int, content: str, *, bold: bool = False, anchor: str = "start", color: str = "#111"
    ) -> None:
        weight = ' font-weight="bold"' if bold else ""
        self.elements.append(
            f'<text x="{x}" y="{y}" text-anchor="{anchor}" fill="{color}"{weight}>{escape(content)}</text>'
        )

    def label(self, x: int, y: int, content: str, *, color: str = "#333") -> None:
        """Centred text on a white background, for edge labels that cross lines."""
        width = text_width(content) + 6
        self.elements.append(
            f'<rect x="{x - width // 2}" y="{y - 11}" width="{width}" height="15" fill="#ffffff" fill-opacity="0.9"/>'
        )
        self.text(x, y, content, anchor="middle", color=color)

    def path(self, d: str, *, color: str = "#555", dashed: bool = False, arrow: bool = True) -> None:
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        marker = ' marker-end="url(#arrow)"' if arrow else ""
        self.elements.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5"{dash}{marker}/>')

    def circle(self, cx: int, cy: int, r: int, *, fill: str, stroke: str = "#333") -> None:
        self.elements.append(f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{fill}" stroke="{stroke}"/>')

    def render(self, width: int, height: int, title: str) -> str:
        head = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT}>',
            f"<title>{escape(title)}</title>",
            "<defs>",
            '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker>',
            "</defs>",
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        ]
        return "\n".join([*head, *self.elements, "</svg>"]) + "\n"
