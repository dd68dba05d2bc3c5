"""The package version, read by hatchling at build time (a literal: no import-time cost)."""

__version__ = "0.1.0"
