"""The model zoo: one file per model, installed as ``pytest_mobiledl.models``.

Each file defines ``MODEL = ModelSpec(...)`` in PyTorch with random seeded weights. Model
files import torch at the top: only conversion processes import them, never pytest.
"""
