#!/usr/bin/env python
"""Draw SPAM Studio's icon: ``resources/icons/spam-studio.svg`` and PNGs of the usual sizes.

The motif is the app's idea in one picture: a grid of superpixels (hexagonal cells) with an object
(a disc) whose superpixels are finer and stay inside its outline. The SVG is written by this
script (plain text, no dependencies); the PNGs are rendered from it with Qt's SVG renderer.

    QT_QPA_PLATFORM=offscreen python packaging/make_icon.py
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

S = 256                     # view box
CX, CY, R = 150.0, 112.0, 70.0   # the object (a disc)
OUTSIDE = ["#2f4858", "#33658a", "#3d7a8c", "#2a5160", "#406e8e", "#35586c"]
INSIDE = ["#f26419", "#f6ae2d", "#e4572e", "#f28f3b", "#c8553d", "#ffc857"]
EDGE = "#f6e27f"


Point = tuple[float, float]


def hexagon(cx: float, cy: float, r: float) -> list[Point]:
    return [(cx + r * math.cos(math.radians(60 * k + 30)), cy + r * math.sin(math.radians(60 * k + 30)))
            for k in range(6)]


def circle(cx: float, cy: float, r: float, n: int = 96) -> list[Point]:
    return [(cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n))
            for k in range(n)]


def rounded_square(x0: float, y0: float, size: float, rad: float, n: int = 12) -> list[Point]:
    pts: list[Point] = []
    corners = [(x0 + size - rad, y0 + rad, -90), (x0 + size - rad, y0 + size - rad, 0),
               (x0 + rad, y0 + size - rad, 90), (x0 + rad, y0 + rad, 180)]
    for cx, cy, a0 in corners:
        for k in range(n + 1):
            a = math.radians(a0 + 90 * k / n)
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def clip(poly: list[Point], window: list[Point]) -> list[Point]:
    """Sutherland-Hodgman: ``poly`` clipped to the convex, clockwise-on-screen ``window``."""
    def inside(p: Point, a: Point, b: Point) -> bool:
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0

    def cross(p: Point, q: Point, a: Point, b: Point) -> Point:
        dx, dy = q[0] - p[0], q[1] - p[1]
        ex, ey = b[0] - a[0], b[1] - a[1]
        t = (ex * (a[1] - p[1]) - ey * (a[0] - p[0])) / (ex * dy - ey * dx)
        return (p[0] + t * dx, p[1] + t * dy)

    out = poly
    for i in range(len(window)):
        a, b = window[i], window[(i + 1) % len(window)]
        src, out = out, []
        for j in range(len(src)):
            p, q = src[j - 1], src[j]
            if inside(q, a, b):
                if not inside(p, a, b):
                    out.append(cross(p, q, a, b))
                out.append(q)
            elif inside(p, a, b):
                out.append(cross(p, q, a, b))
        if not out:
            break
    return out


def polygon(pts: list[Point], fill: str, stroke: str, width: float) -> str:
    d = " ".join(f"{x:.2f},{y:.2f}" for x, y in pts)
    return (f'<polygon points="{d}" fill="{fill}" stroke="{stroke}" stroke-width="{width}" '
            f'stroke-linejoin="round"/>')


def hex_cells(r: float, palette: list[str], stroke: float, window: list[Point]) -> list[str]:
    """Pointy-top hexagons of circumradius ``r``, clipped to the convex ``window``."""
    w, h = math.sqrt(3) * r, 1.5 * r
    cells = []
    row, y = 0, -r
    while y < S + r:
        x = -w + (w / 2 if row % 2 else 0)
        col = 0
        while x < S + w:
            pts = clip(hexagon(x, y, r), window)
            if len(pts) >= 3:
                colour = palette[(3 * row + 2 * col + row * col) % len(palette)]
                cells.append(polygon(pts, colour, EDGE, stroke))
            x += w
            col += 1
        y += h
        row += 1
    return cells


def svg() -> str:
    tile = rounded_square(8, 8, 240, 44)
    disc = circle(CX, CY, R)
    coarse = "\n  ".join(hex_cells(34.0, OUTSIDE, 4.0, tile))
    fine = "\n  ".join(hex_cells(15.0, INSIDE, 2.5, disc))
    tile_d = " ".join(f"{x:.2f},{y:.2f}" for x, y in tile)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{S}" height="{S}" viewBox="0 0 {S} {S}">
  <title>SPAM Studio</title>
  <polygon points="{tile_d}" fill="{OUTSIDE[0]}"/>
  {coarse}
  {fine}
  <circle cx="{CX}" cy="{CY}" r="{R}" fill="none" stroke="#ffffff" stroke-width="7"/>
  <circle cx="{CX}" cy="{CY}" r="{R}" fill="none" stroke="#d7263d" stroke-width="3.5"/>
  <polygon points="{tile_d}" fill="none" stroke="#17263a" stroke-width="6" stroke-linejoin="round"/>
</svg>
"""


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    svg_path = OUT / "spam-studio.svg"
    svg_path.write_text(svg(), encoding="utf-8")
    print(svg_path.relative_to(ROOT))
    from PySide6 import QtCore, QtGui, QtSvg

    app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QtSvg.QSvgRenderer(str(svg_path))
    if not renderer.isValid():
        print(f"error: {svg_path}: Qt cannot render it", file=sys.stderr)
        return 1
    for size in SIZES:
        img = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32)
        img.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(img)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        p = OUT / f"spam-studio-{size}.png"
        img.save(str(p), "PNG")
        print(p.relative_to(ROOT))
    (OUT / "spam-studio.png").write_bytes((OUT / "spam-studio-256.png").read_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
