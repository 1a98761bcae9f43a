"""The Monet pipeline's package: every stage's logic, one module per concern (see the README's module map)."""

__version__ = "0.1.0"
