"""The superpixel engine: :class:`~spam_gui.core.engine.spam.Spam` (segment / rescale), the
budget, seeds, clustering and its compiled kernels, smoothing, connectivity, the encoder and the
pixel features, object edits, and the working-resolution path of large photos (:mod:`.fullres`).

Imports only the bottom layers (params, errors, devices, env, :mod:`spam_gui.core.io`).
"""
