"""Rendered objects judged: the Kubernetes API schemas through kubeconform, resource amounts, and NRP's rules
(schemas/rules.yaml: schema rules and the coded rules_*.py) with their waivers; check.py runs them all and
`nautilus validate` prints them. It imports core and render."""
