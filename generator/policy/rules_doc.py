"""docs/rules.md, generated from schemas/rules.yaml with policy.yaml's numbers filled in."""
from generator.core.schemas import rules
from generator.policy.engine import describe

HEADER = """# Rules of `nautilus validate`

Generated from `schemas/rules.yaml` and `schemas/policy.yaml` by
`nautilus validate --rules-markdown > docs/rules.md`; do not edit by hand.

Errors fail `nautilus validate` (exit 1); warnings are reported only; info is advice (printed as a
note, never counted). Any rule can be waived for one
object with the annotation `waive.nautilus.io/<rule-id>: "<reason>"`; the reason is required and every
waiver is listed by `validate` and `report`.

| id | severity | applies to | why | NRP page | how to fix |
| --- | --- | --- | --- | --- | --- |
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_markdown() -> str:
    rows = []
    for rule in rules().values():
        scope = rule.target + (f" ({', '.join(rule.kinds)})" if rule.kinds else "")
        page = f"[{rule.page}](https://{rule.page})" if rule.page.startswith(("nrp.ai", "kubernetes.io")) else f"`{rule.page}`"
        rows.append(f"| `{rule.id}` | {rule.severity} | {scope} | {_cell(describe(rule.why))} | {page} | "
                    f"{_cell(describe(rule.fix))} |")
    return HEADER + "\n".join(rows) + "\n"
