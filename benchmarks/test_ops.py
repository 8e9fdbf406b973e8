"""Per-operator profiles (--mobiledl-ops): one item per case, each a profiling run of its own.

Without --mobiledl-ops the items are not made (pytest reports one empty parameter set): the
latency items never pay for a profiler.
"""


def test_ops(mobiledl_ops):
    profile = mobiledl_ops.run()
    assert profile.ops or profile.note
