"""Annotation exchange formats: COCO (:mod:`.coco`, RLE or polygons), Pascal VOC (:mod:`.voc`),
YOLO-seg (:mod:`.yolo`) and labelme JSON (:mod:`.labelme`).

Every writer reads an annotation folder (``<stem>_classes.png``, ``<stem>_instances.png`` and
``classes.json``, see :mod:`spam_gui.core.annotation`) or the same held in memory
(:class:`.common.MemorySource`, the app's File -> Export As...); every format is also read
back into one. The polygon formats share the tracing (:mod:`.polygons`: outlines along the
pixels' borders, simplified, holes and parts joined by zero-width bridges where the format
has no other way); the readers share :mod:`.shapes` (every number checked before a decoder
sees it, each region decoded into its own box). Every writer checks all its inputs first and
then writes its files atomically (temporary files renamed into place), so a bad input leaves
nothing half-written; the ``spam export`` and ``spam import`` commands and the app call the
same functions.
"""

from __future__ import annotations

from spam_gui.core.formats.common import LabelFolder, MemorySource, open_label_folder

__all__ = ["LabelFolder", "MemorySource", "open_label_folder"]
