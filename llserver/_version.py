"""The package version, in a module of its own so that ``Response`` can name
it in ``Server:`` without importing the package ``__init__`` (which imports
``Response``)."""

__version__ = "0.1.0"
