"""`nautilus new` and `nautilus init`: a project's options checked against NRP policy (options.py), then its
overlay folders written from the templates (overlay.py, sweep.py), all or nothing. It imports core only."""
