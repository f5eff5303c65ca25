"""The `nautilus` command: scaffold, render, check, review (and deploy) Kustomize overlays for NRP.

Its wings follow the pipeline, each importing only those before it in this list (tests/test_layers.py):
core -> scaffold -> render -> policy -> review -> deploy; cli.py and demo.py sit on top. From trainer/ it
imports only the standard-library modules shared by both command lines (errors, atomic, safe_yaml, variants).
"""
