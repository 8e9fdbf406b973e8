"""pytest-mobiledl: benchmark mobile deep-learning libraries as parametrized pytest items."""

__version__ = "0.1.0"
