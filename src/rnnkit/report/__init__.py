"""Plots and reports of finished runs (matplotlib, written to files; nothing is shown)."""
