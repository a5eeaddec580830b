"""Models on request: the registry of downloadable checkpoints (SAM ViT-B/L/H, DINO ViT-S/16)
and their resumable, verified download. No Qt; nothing is fetched unless the user asks."""

from spam_gui.core.models.download import (ChecksumError, DownloadBusyError, DownloadCancelled,
                                           DownloadError, DownloadResult, NetworkError,
                                           VerifyResult, download_model, file_digest,
                                           manual_hint, verify_file)
from spam_gui.core.models.registry import (MODELS, Checksum, ModelSpec, UnknownModelError,
                                           all_models, find_model, format_size, installed_path,
                                           models_dir, partial_path)

__all__ = ["MODELS", "Checksum", "ChecksumError", "DownloadBusyError", "DownloadCancelled",
           "DownloadError", "DownloadResult", "ModelSpec", "NetworkError", "UnknownModelError",
           "VerifyResult", "all_models", "download_model", "file_digest", "find_model",
           "format_size", "installed_path", "manual_hint", "models_dir", "partial_path",
           "verify_file"]
