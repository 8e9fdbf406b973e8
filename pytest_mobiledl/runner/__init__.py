"""What runs a model where it is measured and prints one RunRecord (``python -m pytest_mobiledl.runner``)."""
