"""`nautilus gitops`: GitOps without a controller. It writes the namespace's deploy identity (a ServiceAccount
with a narrow Role), and, through kubectl with that identity's token, plans, applies, prunes and checks
for drift what main renders, keeping one record of what this repository applied in the namespace. It may
import core, render, policy and review (today through pipeline.py only); nothing imports it except
generator/cli.py, which registers its one command group.
"""
