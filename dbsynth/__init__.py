"""dbsynth: differentially private shadow databases."""

__version__ = "0.1.0"
