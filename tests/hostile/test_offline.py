"""Class 2, the network: `validate`, `report` and `build` render offline. A remote entry anywhere in a
kustomization tree is refused before kustomize runs, naming the file and the entry; --allow-remote fetches
it; and kustomize runs without network even for what the check might miss."""
import http.server
import threading

import pytest

from generator.core.tools import find_tool, run
from hostile_support import nautilus, project, refused, snapshot

REMOTES = [
    ("resources", "github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.7.1"),
    ("resources", "https://raw.githubusercontent.com/org/repo/v1/pod.yaml"),
    ("components", "git@github.com:org/repo.git//components/x"),
    ("resources", "ssh://git@gitlab.example.org/group/repo.git//deploy?ref=main"),
    ("resources", "git::https://example.org/repo.git//deploy"),
    ("resources", "example.org/team/manifests/deploy?version=v2"),
]


def add_entry(kustomization, field: str, entry: str) -> None:
    text = kustomization.read_text()
    kustomization.write_text(text + f"{field}:\n  - {entry}\n" if f"\n{field}:" not in text else
                             text.replace(f"{field}:\n", f"{field}:\n  - {entry}\n", 1))


@pytest.mark.parametrize("field, entry", REMOTES, ids=[e.split("/")[0].split(":")[0] + "-" + f for f, e in REMOTES])
def test_remote_entry_in_the_overlay_is_refused_before_kustomize_runs(tmp_path, field, entry):
    root = project(tmp_path)
    add_entry(root / "overlays/demo/kustomization.yaml", field, entry)
    before = snapshot(root)
    line = refused(nautilus("validate", "overlays/demo", cwd=root), "overlays/demo/kustomization.yaml: ",
                   f"{field} entry {entry!r} is remote", "reviewable", "--allow-remote", within=10)
    assert "kustomize could not render" not in line
    assert snapshot(root) == before


@pytest.mark.parametrize("field, make_entry", [
    ("patches", lambda: {"path": "https://example.org/patch.yaml"}),
    ("configMapGenerator", lambda: {"name": "extra", "files": ["conf=https://example.org/app.conf"]}),
    ("bases", lambda: "https://github.com/org/repo//base?ref=v1"),
], ids=["patch-path", "generator-file", "bases"])
def test_remote_entry_two_kustomizations_down_is_found(tmp_path, field, make_entry):
    """overlays/demo -> ../../base -> nested/: the nested kustomization names the remote entry."""
    root = project(tmp_path)
    nested = root / "base/nested"
    nested.mkdir()
    entry = make_entry()
    (nested / "kustomization.yaml").write_text(f"{field}:\n- {entry if isinstance(entry, str) else repr(entry)}\n"
                                               .replace("'", '"'))
    add_entry(root / "base/kustomization.yaml", "resources", "nested")
    shown = entry if isinstance(entry, str) else entry.get("path") or entry["files"][0].split("=", 1)[1]
    refused(nautilus("validate", "overlays/demo", cwd=root), "error: base/nested/kustomization.yaml: ",
            f"entry {shown!r} is remote", within=10)


def test_report_and_build_refuse_too(tmp_path):
    root = project(tmp_path)
    add_entry(root / "overlays/demo/kustomization.yaml", "resources", REMOTES[0][1])
    for command in (["report", "overlays/demo"], ["build", "overlays/demo"], ["report", "--all"]):
        refused(nautilus(*command, cwd=root), "is remote", "--allow-remote", within=10)


def test_allow_remote_fetches_explicitly(tmp_path):
    """A real HTTP server on 127.0.0.1 serves one more object; with --allow-remote kustomize fetches it."""
    served = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\ndata:\n  a: b\n").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(served)))
            self.end_headers()
            self.wfile.write(served)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = project(tmp_path)
    add_entry(root / "overlays/demo/kustomization.yaml", "resources", f"http://127.0.0.1:{server.server_port}/cm.yaml")
    try:
        refused(nautilus("build", "overlays/demo", cwd=root), "is remote")
        built = nautilus("build", "--allow-remote", "overlays/demo", cwd=root)
    finally:
        server.shutdown()
    assert built.code == 0, built.err
    assert "name: demo-fetched" in built.out


@pytest.mark.parametrize("entry, said", [
    ("https://github.com/org/repo//deploy?ref=v1", "transport 'https' not allowed"),
    ("https://example.org/pod.yaml", "127.0.0.1:9"),
])
def test_kustomize_itself_cannot_reach_the_network(tmp_path, entry, said):
    """Belt and braces: were the check to miss an entry, kustomize runs with git limited to local repositories
    and every proxy pointing at a closed port, so the fetch fails at once."""
    (tmp_path / "kustomization.yaml").write_text(f"resources:\n- {entry}\n")
    proc = run([find_tool("kustomize"), "build", str(tmp_path)], 20, "kustomize")
    assert proc.returncode != 0 and said in proc.stderr, proc.stderr
