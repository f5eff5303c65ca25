"""Overlays into objects: the real kustomize, offline and bounded (kustomize.py), remote entries refused
(remote.py), the files an overlay is built from (overlay_files.py), and what `validate` and `report` read
(sources.py); `nautilus build`. It imports core only."""
