"""The built-in prior: fine superpixels merged by a learned edge model into a hierarchy of
objects (:mod:`.compute`: :func:`~.compute.builtin_prior`; the edge model :mod:`.edge_model`,
the region graph :mod:`.graph`, the hierarchy :mod:`.hierarchy`)."""
