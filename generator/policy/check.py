"""Every check over rendered objects at once: API schemas (kubeconform), resource amounts and NRP's rules,
then waivers. What `nautilus validate` prints and what `nautilus report` counts. Each source is judged on
its own, so a source whose checks the cache holds (check_cache.py) is not checked again."""
from generator.policy import check_cache, engine, kubeconform, quantity_check
from generator.policy.findings import Result
from generator.render import cache
from generator.render.render_key import flush


def _check(loaded, kubernetes_version: str, ignore_missing_schemas: bool):
    findings = (kubeconform.check(loaded, kubernetes_version, ignore_missing_schemas) + quantity_check.check(loaded)
                + engine.evaluate(loaded, kubernetes_version))
    return engine.apply_waivers(findings, loaded)


def check(loaded, kubernetes_version: str, ignore_missing_schemas: bool = False) -> Result:
    """All checkers over the sources read, waivers applied."""
    keys = check_cache.keys(loaded, kubernetes_version, ignore_missing_schemas)
    where = cache.folder() if keys else None
    known = {label: hit for label, k in keys.items() if (hit := check_cache.get(where, k)) is not None}
    todo = [s for s in loaded if s.label not in known]
    kept, waivers = _check(todo, kubernetes_version, ignore_missing_schemas) if todo else ([], [])
    for source in todo if keys else []:
        check_cache.put(where, keys[source.label], [f for f in kept if f.source == source.label],
                        [w for w in waivers if w.source == source.label])
    if keys and todo:
        flush()  # the kubeconform binary's digest, hashed for the keys
        cache.evict(where)
    for found, waived in known.values():
        kept, waivers = kept + found, waivers + waived
    return Result(sorted(set(kept)), sorted(waivers), [s.label for s in loaded])
