"""What every wing shares: the repository a command acts on, the files of its schemas/ folder (NRP's numbers,
the rule table, the JSON Schemas), Kubernetes quantities, image references, GPU names, YAML in kustomize's
layout, git snapshots and the pinned tools run under bounds. It imports nothing else of generator/."""
