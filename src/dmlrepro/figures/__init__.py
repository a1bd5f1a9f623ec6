"""Figures regenerated from trained cells."""
