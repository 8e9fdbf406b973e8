"""Steady-state inference latency: one item per device × lib × model × backend × precision × threads."""


def test_latency(mobiledl):
    record = mobiledl.run()
    assert record.count >= record.iterations
