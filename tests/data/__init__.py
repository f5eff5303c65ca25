"""Data stage: download, verify, extract, preprocess, pack, publish, read back."""
