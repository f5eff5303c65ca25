"""Every check over rendered objects at once: API schemas (kubeconform), resource amounts and NRP's rules,
then waivers. What `nautilus validate` prints and what `nautilus report` counts."""
from generator.policy import engine, kubeconform, quantity_check
from generator.policy.findings import Result


def check(loaded, kubernetes_version: str, ignore_missing_schemas: bool = False) -> Result:
    """All checkers over the sources read, waivers applied."""
    findings = (kubeconform.check(loaded, kubernetes_version, ignore_missing_schemas) + quantity_check.check(loaded)
                + engine.evaluate(loaded, kubernetes_version))
    kept, waivers = engine.apply_waivers(findings, loaded)
    return Result(sorted(set(kept)), waivers, [s.label for s in loaded])
