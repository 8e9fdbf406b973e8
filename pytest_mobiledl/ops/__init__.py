"""Per-operator profiles: one op taxonomy (``taxonomy``), the ``OpProfile`` contract (``profile``),
the profiling process (``python -m pytest_mobiledl.ops``, ``run``), and running it for a case (``host``)."""
