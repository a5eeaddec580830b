"""Files: reading any image (:mod:`.images`), atomic and staged writes, file sets written and
verified as one (:mod:`.file_sets`), the disk cache and file hashing (:mod:`.cache`), folder
locks (:mod:`.locking`) and the shipped resources (:mod:`.resources`).

The bottom of the core's layers: it imports only :mod:`spam_gui.core.errors` and
:mod:`spam_gui.core.env` besides itself.
"""
