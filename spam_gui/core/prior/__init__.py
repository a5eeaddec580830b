"""The prior object map and where it comes from: the map itself, its files and proposals
(:mod:`.maps`), the source chosen for an image (:mod:`.sources`), the built-in prior
(:mod:`.builtin`) and SAM's automatic masks (:mod:`.sam`).

Sits above :mod:`spam_gui.core.engine` (the built-in prior runs the engine's fine superpixels).
"""
