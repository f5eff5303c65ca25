"""What main asks of a namespace (`nautilus gitops plan/apply/drift`): the project overlays rendered with the pinned
kustomize, or read bounded from a pull request's artifact folder of <overlay>.yaml files; overlays of another
namespace skipped; a kind the deploy identity may not apply refused in one line; every object labelled with
its overlay."""
import json
import os
from pathlib import Path

import pytest

from generator.deploy import desired
from generator.deploy.desired import from_folder, from_repository
from trainer.errors import UsageError

LABEL = "nautilus.io/gitops-overlay"


def obj(kind: str, name: str, namespace: str | None = "lab", **labels: str) -> dict:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {}), **({"labels": labels} if labels else {})}
    return {"apiVersion": "batch/v1" if kind == "Job" else "v1", "kind": kind, "metadata": metadata}


def yaml_text(*objects: dict) -> str:
    return "---\n".join(json.dumps(o) + "\n" for o in objects)


def write(folder: Path, name: str, *objects: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(yaml_text(*objects))
    return folder / name


def summary(overlays) -> list[tuple[str, list[tuple[str, str, str]]]]:
    return [(o.name, [(x["kind"], x["metadata"]["name"], x["metadata"]["labels"][LABEL]) for x in o.objects])
            for o in overlays]


# --- an artifact folder of rendered overlays -------------------------------------------------------

def test_an_artifact_gives_this_namespaces_overlays_labelled_and_skips_the_others(tmp_path):
    """Each <overlay>.yaml of the namespace becomes an overlay, in name order, its objects in the file's order
    labelled with the overlay (labels of their own kept) and its text as rendered; an overlay of another
    namespace, or without a namespace, is skipped by name."""
    cells = write(tmp_path, "cells.yaml", obj("ConfigMap", "cells-train-1", team="vision"), obj("Job", "cells-train-1"))
    write(tmp_path, "bees.yaml", obj("Service", "bees-tb"))
    write(tmp_path, "other.yaml", obj("ConfigMap", "other-data", "elsewhere"))
    write(tmp_path, "bare.yaml", obj("ConfigMap", "bare-data", None))
    overlays, skipped = from_folder(tmp_path, "lab")
    assert summary(overlays) == [("bees", [("Service", "bees-tb", "bees")]),
                                 ("cells", [("ConfigMap", "cells-train-1", "cells"), ("Job", "cells-train-1", "cells")])]
    assert skipped == ["bare", "other"]
    assert overlays[1].objects[0]["metadata"]["labels"] == {"team": "vision", LABEL: "cells"}
    assert overlays[1].text == cells.read_text()
    other, skipped = from_folder(tmp_path, "elsewhere")
    assert summary(other) == [("other", [("ConfigMap", "other-data", "other")])] and skipped == ["bare", "bees", "cells"]


def test_an_overlay_with_an_object_in_another_namespace_is_refused_not_half_applied(tmp_path):
    """The deploy of either namespace stops with the object named and the fix, instead of applying part of the
    overlay or passing over it in silence."""
    write(tmp_path, "mixed.yaml", obj("ConfigMap", "mixed-data"), obj("Job", "mixed-train", "elsewhere"))
    for namespace, stray, where in (("lab", "Job/mixed-train", "elsewhere"), ("elsewhere", "ConfigMap/mixed-data", "lab")):
        with pytest.raises(UsageError) as refused:
            from_folder(tmp_path, namespace)
        assert str(refused.value) == (f"overlays/mixed: {stray} is in namespace {where!r}, not {namespace!r}; "
                                      "deploy one namespace per identity; fix the overlay's namespace")
    assert from_folder(tmp_path, "third") == ([], ["mixed"])


def test_labelling_copies_the_object_and_gives_a_bare_one_metadata():
    """The rendered object itself is left as it was."""
    rendered = obj("ConfigMap", "cells-data", team="vision")
    labelled = desired._labelled(rendered, "cells")
    assert labelled["metadata"]["labels"] == {"team": "vision", LABEL: "cells"}
    assert rendered == obj("ConfigMap", "cells-data", team="vision")
    assert desired._labelled({"kind": "ConfigMap"}, "cells") == {"kind": "ConfigMap", "metadata": {"labels": {LABEL: "cells"}}}


def test_a_kind_the_deploy_identity_may_not_apply_is_refused_with_the_fix(tmp_path):
    write(tmp_path, "cells.yaml", obj("ConfigMap", "cells-data"), obj("Secret", "cells-token"))
    with pytest.raises(UsageError) as refused:
        from_folder(tmp_path, "lab")
    assert str(refused.value) == ("overlays/cells renders a Secret, which the deploy identity may not apply; "
                                  "add the kind to generator/deploy/gitops.yaml and rewrite the identity")
    assert from_folder(tmp_path, "elsewhere") == ([], ["cells"])  # another namespace's overlay is not judged


def test_an_artifact_of_more_than_200_files_is_refused(tmp_path):
    """Up to 200 *.yaml entries are read (folders and links among them ignored); one more is refused."""
    write(tmp_path, "cells.yaml", obj("ConfigMap", "cells-data"))
    for i in range(199):
        (tmp_path / f"d{i}.yaml").mkdir()
    overlays, skipped = from_folder(tmp_path, "lab")
    assert [o.name for o in overlays] == ["cells"] and skipped == []
    (tmp_path / "d199.yaml").mkdir()
    with pytest.raises(UsageError) as refused:
        from_folder(tmp_path, "lab")
    assert str(refused.value) == f"{tmp_path} holds more than 200 rendered overlays; render fewer overlays"


def test_a_rendered_file_over_4_mib_is_refused(tmp_path):
    """A file read bounded: more than 4 MiB is refused before it is parsed."""
    write(tmp_path, "cells.yaml", obj("ConfigMap", "cells-data"))
    (tmp_path / "big.yaml").write_text("#" * (4 * 2**20 + 1))
    with pytest.raises(UsageError) as refused:
        from_folder(tmp_path, "lab")
    assert str(refused.value) == "big.yaml is larger than 4,194,304 bytes; render smaller overlays"


@pytest.mark.parametrize("name", ["Cells.yaml", "cells.dev.yaml", "-cells.yaml", "cells_2.yaml", f"{'a' * 64}.yaml"])
def test_a_file_not_named_like_an_overlay_is_refused(tmp_path, name):
    write(tmp_path, name, obj("ConfigMap", "cells-data"))
    with pytest.raises(UsageError) as refused:
        from_folder(tmp_path, "lab")
    assert str(refused.value) == f"{name} is not named like an overlay; name rendered files <overlay>.yaml"


def test_links_folders_and_other_files_in_an_artifact_are_ignored(tmp_path):
    """Only regular <overlay>.yaml files are read: a link to a rendered overlay, a folder named like one and a
    file with another suffix are not."""
    outside = write(tmp_path / "outside", "bees.yaml", obj("Service", "bees-tb"))
    folder = tmp_path / "rendered"
    write(folder, "cells.yaml", obj("ConfigMap", "cells-data"))
    (folder / "bees.yaml").symlink_to(outside)
    os.symlink(folder / "missing.yaml", folder / "dangling.yaml")
    (folder / "maps.yaml").mkdir()
    write(folder, "ants.yml", obj("ConfigMap", "ants-data"))
    overlays, skipped = from_folder(folder, "lab")
    assert [o.name for o in overlays] == ["cells"] and skipped == []


# --- a repository's overlays, rendered with the pinned kustomize --------------------------------------

def overlay(root: Path, name: str, namespace: str, *objects: dict) -> None:
    folder = root / "overlays" / name
    write(folder, "objects.yaml", *objects)
    (folder / "kustomization.yaml").write_text(f"namespace: {namespace}\nresources: [objects.yaml]\n")


@pytest.fixture
def repository(tmp_path) -> Path:
    """Project overlays cells and bees of namespace lab, other of namespace elsewhere, and cells' .dev and
    .results overlays (pods a person starts by hand)."""
    overlay(tmp_path, "cells", "lab", obj("ConfigMap", "cells-data", None), obj("Job", "cells-train", None))
    overlay(tmp_path, "bees", "lab", obj("Service", "bees-tb", None))
    overlay(tmp_path, "other", "elsewhere", obj("ConfigMap", "other-data", None))
    overlay(tmp_path, "cells.dev", "lab", obj("ConfigMap", "cells-dev", None))
    overlay(tmp_path, "cells.results", "lab", obj("ConfigMap", "cells-results", None))
    return tmp_path


def test_a_repository_renders_its_project_overlays_of_the_namespace_never_dev_or_results(repository):
    overlays, skipped = from_repository(repository, "lab")
    assert summary(overlays) == [("bees", [("Service", "bees-tb", "bees")]),
                                 ("cells", [("ConfigMap", "cells-data", "cells"), ("Job", "cells-train", "cells")])]
    assert skipped == ["other"]
    assert "name: cells-train" in overlays[1].text and LABEL not in overlays[1].text  # as kustomize rendered it
    assert all(o["metadata"]["namespace"] == "lab" for o in overlays[1].objects)


def test_names_select_the_overlays_rendered(repository):
    """Only the named project overlays are rendered (a .dev overlay even when named); none named, none rendered."""
    overlays, skipped = from_repository(repository, "lab", ["cells", "cells.dev", "other"])
    assert [o.name for o in overlays] == ["cells"] and skipped == ["other"]
    assert from_repository(repository, "lab", ["bees"])[0][0].name == "bees"
    assert from_repository(repository, "lab", []) == ([], [])
