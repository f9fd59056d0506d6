"""Reprobook: ten research papers as executable, tested chapters.

``reprobook.core`` holds what every chapter shares (profiles, the runner, seeding, devices,
figures, claims, data manifests); ``reprobook.<slug>`` holds one chapter's code.
"""

__version__ = "0.1.0"
