"""Every rule fires on a minimal manifest and stays quiet on its clean or near-miss twin."""
import pytest

from generator.core import published_image as published
from generator.core.schemas import rules
from validate.support import build_case, cases, run_json, write_yaml

CASES = cases()
CORPUS_IMAGE = "ghcr.io/corpus/cells/trainer"


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """One `nautilus validate` run (one kubeconform process) over the whole corpus: {case: json}."""
    folder = tmp_path_factory.mktemp("corpus")
    paths = [write_yaml(folder / f"{case['name']}.yaml", build_case(case)) for case in CASES]
    with pytest.MonkeyPatch.context() as patch:  # this checkout publishes CORPUS_IMAGE (rule image-published)
        patch.setenv(published.VARIABLE, CORPUS_IMAGE)
        code, report, _ = run_json("validate", *paths)
    by_case = {case["name"]: {"findings": [], "waivers": []} for case in CASES}
    for kind in ("findings", "waivers"):
        for item in report[kind]:
            by_case[item["source"].rsplit("/", 1)[-1].removesuffix(".yaml")][kind].append(item)
    return code, by_case


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case_reports_exactly_its_rules(case, verdicts):
    _, by_case = verdicts
    found = by_case[case["name"]]
    assert sorted({f["rule"] for f in found["findings"]}) == sorted(case["expect"]), found["findings"]
    assert sorted(w["rule"] for w in found["waivers"]) == sorted(case.get("waived", []))


# Rules that judge an overlay as kustomize rendered it, never a plain file like the corpus's cases: each has
# its own test in tests/test_validate.py.
OVERLAY_ONLY = {"configmap-missing"}


def test_every_rule_fires_in_some_case():
    fired = {rule for case in CASES for rule in case["expect"]}
    assert set(rules()) - fired == OVERLAY_ONLY


def test_corpus_with_errors_exits_1(verdicts):
    assert verdicts[0] == 1


def test_every_finding_names_object_and_fix(verdicts):
    _, by_case = verdicts
    for found in by_case.values():
        for finding in found["findings"]:
            assert finding["kind"] and finding["name"]
            assert "; " in finding["message"]  # what is wrong; how to fix
            assert finding["severity"] == rules()[finding["rule"]].severity
