"""``python main.py [FOLDER_OR_IMAGE]`` starts the SPAM Studio desktop app."""

import sys

from spam_gui.app.main import main

if __name__ == "__main__":
    sys.exit(main())
