"""The help of the app: every shortcut and mouse gesture (F1), and About."""

from __future__ import annotations

import html
from typing import Any, Iterable

from spam_gui import __version__
from spam_gui.app.qt import QtWidgets

APP_NAME = "SPAM Studio"
MOUSE_ROWS = [
    ("Files", "Ctrl+1 … Ctrl+9", "Open a recent folder (File → Open Recent)"),
    ("Mouse", "Left click", "Scale mode: ×2 density of the object; SAM mode: positive point"),
    ("Mouse", "Right click", "Scale mode: ×½ density; SAM mode: negative point"),
    ("Mouse", "Shift+click", "Scale mode: reset the object's ratio to 1"),
    ("Mouse", "Paint tool: click, drag", "Paint the superpixels under the pointer with the "
     "current class (the round brush, X: a disk)"),
    ("Mouse", "Paint tool: Shift+click", "Fill the whole object with the current class "
     "(one new instance; a Shift+drag fills every object it crosses as that one instance)"),
    ("Mouse", "Paint tool: right click, right drag", "Unlabel (Shift: the whole object)"),
    ("Mouse", "Ctrl+click", "Select objects, one more each time (then Merge, Shift+M)"),
    ("Mouse", "Split tool: drag across an object", "Cut it into its parts along the line"),
    ("Mouse", "Draw / Erase tool: drag", "A lasso: a new object / uncertain pixels inside it "
     "(Shift+drag: a brush; Draw tool: the right button erases)"),
    ("Mouse", "Space+drag (any tool), middle drag", "Pan (in the scale, SAM and inspect tools "
     "any drag pans too)"),
    ("Mouse", "Wheel", "Zoom about the pointer"),
    ("Mouse", "Ctrl+wheel", "Paint, Draw and Erase tools: the brush size (its outline follows "
     "the pointer); elsewhere zoom"),
    ("Mouse", "Drop a folder or image", "Open it"),
]
GROUP_ORDER = ["Files", "Navigate", "Edit", "Objects", "Paint", "View", "Help", "Mouse"]


def shortcut_rows(specs: Iterable[Any]) -> list[tuple[str, str, str]]:
    """(group, keys, what) for every action with a shortcut, plus the mouse gestures."""
    rows = [(s.group, ", ".join(s.shortcuts), s.help) for s in specs if s.shortcuts]
    rows += MOUSE_ROWS
    return sorted(rows, key=lambda r: GROUP_ORDER.index(r[0]) if r[0] in GROUP_ORDER
                  else len(GROUP_ORDER))


def shortcut_markdown(rows: Iterable[tuple[str, str, str]]) -> str:
    """The same table as Markdown (the README's "Keyboard shortcuts" section is this text;
    ``python scripts/shortcut_table.py`` prints it, a test keeps the two equal)."""
    lines = ["| | Keys | Action |", "|---|---|---|"]
    group = None
    for g, keys, what in rows:
        k = " / ".join(f"`{x.strip()}`" for x in keys.split(", "))
        lines.append(f"| {g if g != group else ''} | {k} | {what.replace('|', '/')} |")
        group = g
    return "\n".join(lines) + "\n"


def help_html(rows: Iterable[tuple[str, str, str]]) -> str:
    """Every shortcut and mouse gesture, grouped, as an HTML table."""
    parts = ["<style>td { padding: 2px 10px 2px 0; } th { text-align: left; padding-top: 10px; }"
             " kbd { font-family: monospace; font-weight: bold; }</style><table>"]
    group = None
    for g, keys, what in rows:
        if g != group:
            parts.append(f"<tr><th colspan=2>{html.escape(g)}</th></tr>")
            group = g
        k = ", ".join(f"<kbd>{html.escape(x.strip())}</kbd>" for x in keys.split(", "))
        parts.append(f"<tr><td style='white-space: nowrap'>{k}</td><td>{html.escape(what)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def show_help(parent: QtWidgets.QWidget, specs: Iterable[Any]) -> QtWidgets.QDialog:
    """Open the shortcuts dialog (not modal to the app's work) and return it."""
    dlg = QtWidgets.QDialog(parent)
    dlg.setObjectName("helpDialog")
    dlg.setWindowTitle("Keyboard shortcuts")
    text = QtWidgets.QTextBrowser(dlg)
    text.setObjectName("helpText")
    text.setHtml(help_html(shortcut_rows(specs)))
    close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
    close.rejected.connect(dlg.reject)
    lay = QtWidgets.QVBoxLayout(dlg)
    lay.addWidget(text)
    lay.addWidget(close)
    dlg.resize(760, 720)
    dlg.open()
    return dlg


def show_about(parent: QtWidgets.QWidget, models: str) -> None:
    QtWidgets.QMessageBox.about(
        parent, f"About {APP_NAME}",
        f"<b>{APP_NAME}</b> {__version__}<br>SuperPixel Anything Model: superpixels inside "
        f"the objects of a prior, with per-object density.<br><br>{html.escape(models)}")
