"""Neural-network building blocks. `functional` holds the loss functions."""

from . import functional

__all__ = ["functional"]
