"""`nautilus report`: what each overlay asks the cluster for (inventory.py), before and after a change
(baseline.py), measured use beside it (measured.py), as a pull-request comment (markdown.py) or JSON. It
imports core, render and policy."""
