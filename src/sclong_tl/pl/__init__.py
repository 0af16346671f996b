"""Plots for the tutorials (matplotlib / seaborn, scanpy style: ``show=False`` returns the Axes)."""
