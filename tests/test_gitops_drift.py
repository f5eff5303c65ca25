"""What `nautilus gitops drift` reports: from a plan of main's overlays and the record, each object where the
namespace and main disagree with what happened to it, and the Markdown table the drift issue shows. Plain
plans and records, no namespace."""
from generator.deploy.drift import findings, markdown
from generator.deploy.plan import Plan, Step
from generator.deploy.record import Record

ON_MAIN = {"cells", "maps"}


def reported(steps: list[Step], record: Record = Record(), on_main: set[str] = ON_MAIN) -> list[tuple[str, str, str, str]]:
    return [(s.overlay, s.kind, s.name, what) for s, what in findings(Plan("lab", steps), record, on_main)]


def test_a_missing_object_was_deleted_by_hand_when_the_record_has_it_else_it_is_not_applied_yet():
    """An object main renders and the namespace lacks is `deleted by hand` when the record says this overlay
    applied that kind under that name; otherwise (another kind, another name, another overlay) it is
    `on main, not applied yet`."""
    record = Record("c1", {
        "cells": {"objects": [{"kind": "ConfigMap", "name": "cells-data", "uid": "u1"},
                              {"kind": "Service", "name": "cells-tb", "uid": "u2"}], "runs": []},
        "maps": {"objects": [{"kind": "Job", "name": "cells-train", "uid": "u3"}], "runs": ["cells-train"]},
    })
    steps = [Step("cells", "ConfigMap", "cells-data", "create"), Step("cells", "ConfigMap", "cells-tb", "create"),
             Step("cells", "Service", "cells-web", "create"), Step("cells", "Job", "cells-train", "create")]
    assert reported(steps, record) == [
        ("cells", "ConfigMap", "cells-data", "deleted by hand"),
        ("cells", "ConfigMap", "cells-tb", "on main, not applied yet"),
        ("cells", "Service", "cells-web", "on main, not applied yet"),
        ("cells", "Job", "cells-train", "on main, not applied yet"),
    ]
    assert reported(steps[:1]) == [("cells", "ConfigMap", "cells-data", "on main, not applied yet")]  # no record yet


def test_an_edited_object_is_changed_by_hand_and_one_the_server_refuses_says_it_cannot_be_re_applied():
    """A live object that differs from main (a change, or a Job replaced because it cannot change in place) is
    `changed by hand`; one the API server refuses to change is `changed by hand (cannot be re-applied)`."""
    steps = [Step("cells", "ConfigMap", "cells-data", "change", fields=["data.a"]),
             Step("cells", "Service", "cells-tb", "refused", note="field is immutable"),
             Step("maps", "Job", "maps-train", "replace")]
    assert reported(steps) == [("cells", "ConfigMap", "cells-data", "changed by hand"),
                               ("cells", "Service", "cells-tb", "changed by hand (cannot be re-applied)"),
                               ("maps", "Job", "maps-train", "changed by hand")]
    found = findings(Plan("lab", steps), Record(), ON_MAIN)
    assert [step for step, _ in found] == steps  # the steps themselves, with their fields, for the table


def test_a_pruned_job_or_an_overlay_main_no_longer_has_is_drift_but_a_gone_runs_config_is_not():
    """Pruning the ConfigMap or Service of a run that is gone, in an overlay main still has, is housekeeping for
    the next apply, not drift. A Job to prune, or anything of an overlay main no longer has, is `main no
    longer has it`."""
    steps = [Step("cells", "ConfigMap", "cells-train-1", "prune", uid="u1"),
             Step("cells", "Service", "cells-tb-1", "prune", uid="u2"),
             Step("cells", "Job", "cells-extra", "prune", uid="u3"),
             Step("gone", "ConfigMap", "gone-train-1", "prune", uid="u4"),
             Step("gone", "Job", "gone-train-1", "prune", uid="u5")]
    assert reported(steps) == [("cells", "Job", "cells-extra", "main no longer has it"),
                               ("gone", "ConfigMap", "gone-train-1", "main no longer has it"),
                               ("gone", "Job", "gone-train-1", "main no longer has it")]
    assert reported(steps[:2], on_main={"maps"}) == [("cells", "ConfigMap", "cells-train-1", "main no longer has it"),
                                                     ("cells", "Service", "cells-tb-1", "main no longer has it")]


def test_what_a_deploy_expects_is_never_drift():
    """Unchanged objects, a finished run not started again, a kept claim, an older run still running beside a
    new one, and stopping a replaced run are reported as nothing."""
    steps = [Step("cells", "ConfigMap", "cells-data", "same"), Step("cells", "Job", "cells-train-1", "not-rerun"),
             Step("gone", "PersistentVolumeClaim", "gone-storage", "keep-claim"),
             Step("cells", "Job", "cells-train-0", "supersede"), Step("cells", "Job", "cells-train-2", "stop")]
    assert reported(steps) == []
    assert reported([*steps, Step("cells", "ConfigMap", "cells-data", "change")]) == \
        [("cells", "ConfigMap", "cells-data", "changed by hand")]


def test_a_clean_namespace_says_no_drift_and_names_it():
    assert markdown([], "gp-engine-lab") == "No drift: namespace `gp-engine-lab` holds what main renders."


def test_drift_is_a_table_of_each_object_with_its_overlay_meaning_and_changed_fields():
    """The table counts the objects, names each overlay's folder, and lists the changed fields backticked."""
    found = [(Step("cells", "ConfigMap", "cells-data", "change", fields=["data.a", "metadata.labels.team"]), "changed by hand"),
             (Step("gone", "Job", "gone-train", "prune"), "main no longer has it")]
    assert markdown(found, "lab").splitlines() == [
        "Namespace `lab` differs from main in 2 object(s):",
        "",
        "| overlay | kind | name | drift | fields |",
        "| --- | --- | --- | --- | --- |",
        "| overlays/cells | ConfigMap | cells-data | changed by hand | `data.a`, `metadata.labels.team` |",
        "| overlays/gone | Job | gone-train | main no longer has it |  |",
    ]


def test_a_long_drift_shows_at_most_200_rows_of_at_most_8_fields_but_counts_every_object():
    fields = [f"data.k{i}" for i in range(9)]
    found = [(Step("cells", "ConfigMap", f"c{i}", "change", fields=fields), "changed by hand") for i in range(201)]
    lines = markdown(found, "lab").splitlines()
    assert lines[0] == "Namespace `lab` differs from main in 201 object(s):"
    rows = lines[4:]
    assert len(rows) == 200 and rows[-1].startswith("| overlays/cells | ConfigMap | c199 |")
    assert rows[0].endswith("| " + ", ".join(f"`data.k{i}`" for i in range(8)) + " |")
