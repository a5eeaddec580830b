"""Annotation exchange formats: COCO (:mod:`.coco`) and Pascal VOC (:mod:`.voc`).

Both read an annotation folder (``<stem>_classes.png``, ``<stem>_instances.png`` and
``classes.json``, see :mod:`spam_gui.core.annotation`); COCO is also read back into one. Every
writer checks all its inputs first and then writes its files atomically (temporary files
renamed into place), so a bad input leaves nothing half-written; the ``spam export`` and
``spam import`` commands and the app call the same functions.
"""

from __future__ import annotations

from spam_gui.core.formats.common import LabelFolder, open_label_folder

__all__ = ["LabelFolder", "open_label_folder"]
