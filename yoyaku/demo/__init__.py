"""The demo: ``make demo`` (``python -m yoyaku.demo``) runs Yoyaku with local servers only.

Importing this package loads no Django: the demo's settings come from the
environment it prepares first (see ``main``).
"""
