"""Photos of any size: the working grid (:mod:`.grid`), its clustering (:mod:`.working`), the
points and seeds (:mod:`.points`), the full-resolution labelling (:mod:`.labelling`), object ids
at full resolution (:mod:`.objects`) and re-clustering one object (:mod:`.rescale`)."""
