"""Hypothesis' settings for the property tests (test_properties.py): 200 examples a test, no deadline (a
shared machine's pauses are not failures); under CI (CI set) the same examples every run, derandomized, and
no example database. `pytest --hypothesis-profile=thorough tests/hostile/test_properties.py` hunts longer."""
import os

from hypothesis import settings

settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile("ci", settings.get_profile("default"), derandomize=True, database=None)
settings.register_profile("thorough", settings.get_profile("default"), max_examples=5000)
settings.load_profile("ci" if os.environ.get("CI") else "default")
