"""The "digits3" demo data set: handwritten, spoken and typed digits, each sometimes destroyed."""

from edgefuse.train.demo.build import build_demo

__all__ = ["build_demo"]
