"""What the lessons draw with: plot helpers and figure files (plots.py) and the explorer kit (explorer.py)."""
