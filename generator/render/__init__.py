"""Overlays into objects: the real kustomize, offline and bounded (kustomize.py), remote entries refused
(remote.py), the files an overlay is built from (overlay_files.py), renders cached by those inputs
(render_key.py, cache.py), what changed since a git ref (changes.py), and what `validate` and `report` read
(sources.py); `nautilus build`. It imports core only."""
