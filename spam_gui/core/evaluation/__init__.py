"""Benchmarking: label-map checks (:mod:`.label_ids`), the metrics (:mod:`.metrics`,
:mod:`.regularity`), annotated datasets (:mod:`.datasets`), simulated annotation effort
(:mod:`.annotation_effort`) and the evaluation protocol (:mod:`.evaluate`)."""
