"""The self-check chapter: the machine a run used, and a determinism self-check.

Not a paper: it checks the book's own promise (ARCHITECTURE §6) that the same profile + seed +
machine gives the same bytes, and records what the other chapters ran on.
"""
