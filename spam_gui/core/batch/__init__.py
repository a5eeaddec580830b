"""Batch runs over many images: the job (:mod:`.job`), the per-image work (:mod:`.per_image`),
resuming (:mod:`.resume`), running in this process or on Dask (:mod:`.runner`,
:mod:`.dask_runner`, :mod:`.scheduler_address`). The top of the core's layers."""
