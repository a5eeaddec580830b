"""What is selected on the image shown, and for what (Qt-free).

A selection belongs to one image and one purpose:

- ``focus``: the object a plain click acted on (scale, inspect, a tool's plain click) or the
  row picked in the Objects list: outlined on the canvas, the target of the panel's ×2 / ×½ /
  Reset buttons; never merged.
- ``merge``: the objects Ctrl+clicked on the image (or picked together in the Objects list)
  for Merge (Shift+M): Merge acts on these and on nothing else.

Changing the tool or the image clears both (:meth:`ObjectSelection.clear`); a plain click
replaces them; objects that no longer exist after a re-segmentation are dropped
(:meth:`ObjectSelection.keep_only`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class ObjectSelection:
    """The selection of image ``row`` (see the module docstring)."""

    row: int = -1
    focus: int = 0
    merge: list[int] = field(default_factory=list)

    def clear(self, row: int | None = None) -> None:
        """Nothing selected (on image ``row`` from now on, when given)."""
        if row is not None:
            self.row = int(row)
        self.focus = 0
        self.merge = []

    def set_focus(self, row: int, object_id: int) -> None:
        """A plain click on object ``object_id`` (0: none): it alone is selected, not for
        merging."""
        self.clear(row)
        self.focus = max(0, int(object_id))

    def toggle_merge(self, row: int, object_id: int) -> None:
        """Ctrl+click: add ``object_id`` to the objects to merge, or take it out."""
        if row != self.row:
            self.clear(row)
        oid = int(object_id)
        if oid <= 0:
            return
        self.focus = 0
        if oid in self.merge:
            self.merge = [o for o in self.merge if o != oid]
        else:
            self.merge = self.merge + [oid]

    def set_list(self, row: int, ids: Iterable[int]) -> None:
        """Rows picked in the Objects list: one is the focus, several are to merge."""
        ids = [int(i) for i in ids if int(i) > 0]
        self.clear(row)
        if len(ids) == 1:
            self.focus = ids[0]
        else:
            self.merge = list(dict.fromkeys(ids))

    def merge_ids(self, row: int) -> list[int]:
        """The objects to merge on image ``row`` (empty for another image)."""
        return list(self.merge) if row == self.row else []

    def shown(self, row: int) -> list[int]:
        """The objects to show selected on image ``row`` (the merge set, else the focus)."""
        if row != self.row:
            return []
        return list(self.merge) if self.merge else ([self.focus] if self.focus else [])

    def keep_only(self, existing: Iterable[int]) -> None:
        """Drop the objects that are not in ``existing`` (the image's objects now)."""
        have = set(int(i) for i in existing)
        self.merge = [o for o in self.merge if o in have]
        if self.focus not in have:
            self.focus = 0

    def describe(self) -> str:
        """What the canvas says about the selection ('' when nothing is selected)."""
        if self.merge:
            ids = ", ".join(str(o) for o in self.merge)
            n = len(self.merge)
            more = ("Shift+M merges them" if n >= 2 else
                    "Ctrl+click another object to merge with it")
            return (f"Selected to merge: object{'s' if n > 1 else ''} {ids} · {more} · "
                    "Esc clears")
        if self.focus:
            return f"Selected: object {self.focus} · Ctrl+click objects to merge · Esc clears"
        return ""
