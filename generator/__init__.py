"""The `nautilus` command: scaffold, render, validate and report Kustomize overlays for NRP."""
