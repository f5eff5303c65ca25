"""kubectl, bounded: every call has a time limit and a cap on what it may print, and acts in one namespace
with the credentials of $KUBECONFIG (the workflow builds one from the token and the CA at run time)."""
import json
import os
import tempfile

from . import pipeline
from .settings import settings

SECONDS = 60
MAX_BYTES = 32 * 2**20


class Kube:
    def __init__(self, namespace: str):
        self.namespace = namespace
        self.kubectl = pipeline.find_tool("kubectl")

    def run(self, *args: str, stdin: str | None = None, seconds: float = SECONDS):
        """kubectl ARGS -n NAMESPACE: CompletedProcess (text). Input is passed through a file, not a pipe."""
        command = [self.kubectl, "-n", self.namespace, *args]
        if stdin is not None:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
                handle.write(stdin)
            try:
                return pipeline.run([*command, "-f", handle.name], seconds, f"kubectl {args[0]}", offline=False,
                                    max_bytes=MAX_BYTES)
            finally:
                os.unlink(handle.name)
        return pipeline.run(command, seconds, f"kubectl {args[0]}", offline=False, max_bytes=MAX_BYTES)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        proc = self.run(*args, stdin=stdin)
        if proc.returncode != 0:
            raise pipeline.UsageError(f"kubectl {' '.join(args[:3])} failed: {last_line(proc.stderr)}",
                                      "check the namespace, the token and what it may do (`nautilus gitops can-i`)")
        return proc.stdout

    def items(self, resources: str, selector: str | None = None) -> list[dict]:
        """Live objects of the resources (comma-separated) in the namespace."""
        args = ["get", resources, "-o", "json"] + (["-l", selector] if selector else [])
        return json.loads(self.ok(*args)).get("items", [])

    def get(self, resource: str, name: str) -> dict | None:
        proc = self.run("get", resource, name, "-o", "json")
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise pipeline.UsageError(f"kubectl get {resource} {name} failed: {last_line(proc.stderr)}",
                                      "check the token's rights with `nautilus gitops can-i`")
        return json.loads(proc.stdout)

    def dry_run(self, obj: dict):
        """Server-side apply of one object as a dry run: (merged object, None) or (None, the server's refusal)."""
        proc = self.run("apply", "--server-side", "--force-conflicts", f"--field-manager={settings()['field_manager']}",
                        "--dry-run=server", "-o", "json", stdin=json.dumps(obj))
        if proc.returncode != 0:
            return None, last_line(proc.stderr)
        return json.loads(proc.stdout), None

    def apply(self, objects: list[dict]) -> list[dict]:
        """Server-side apply, our field manager owning every field it sets; the applied objects."""
        if not objects:
            return []
        listed = {"apiVersion": "v1", "kind": "List", "items": objects}
        out = json.loads(self.ok("apply", "--server-side", "--force-conflicts",
                                 f"--field-manager={settings()['field_manager']}", "-o", "json", stdin=json.dumps(listed)))
        return out.get("items", [out]) if out.get("kind") == "List" else [out]

    def delete(self, resource: str, name: str, uid: str) -> None:
        """Delete one object, only if it is still the one recorded (same uid); pods of a Job go with it."""
        obj = self.get(resource, name)
        if obj and obj["metadata"]["uid"] == uid:
            self.ok("delete", resource, name, "--cascade=background", "--wait=false", "--ignore-not-found")

    def can_i(self, verb: str, resource: str, namespace: str | None = None) -> bool:
        args = ["auth", "can-i", verb, resource]
        proc = pipeline.run([self.kubectl, "-n", namespace or self.namespace, *args], SECONDS, "kubectl auth can-i",
                            offline=False, max_bytes=2**16)
        return proc.stdout.strip() == "yes"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) <= 400 else line[:397] + "..."
