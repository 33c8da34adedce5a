"""The web app has no models of its own: the abuse-limit counters it made first live in ``yoyaku/limits``."""
