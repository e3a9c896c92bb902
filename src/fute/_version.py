"""The version of fute: one place, imported by the face and by whatever records it."""

__version__ = "0.1.0"
