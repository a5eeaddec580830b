"""The app's Qt-free model: per-image document data and the folder's state file.

Nothing in this package imports Qt, so it can be used and tested without a display; the Qt
objects (documents with undo stacks, widgets) live in :mod:`spam_gui.app` on top of it.
"""

from spam_gui.app.model.doc_data import (DocState, Params, Prompt, normalise_ratio,
                                         state_key)
from spam_gui.app.model.state_file import (STATE_FILE_NAME, STATE_FORMAT, STATE_VERSION,
                                           LoadedState, ImageEntry, read_state_file,
                                           validate_entry)

__all__ = [
    "DocState", "ImageEntry", "LoadedState", "Params", "Prompt", "STATE_FILE_NAME",
    "STATE_FORMAT", "STATE_VERSION", "normalise_ratio", "read_state_file", "state_key",
    "validate_entry",
]
