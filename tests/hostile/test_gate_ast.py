"""Every untrusted read goes through the gate (trainer/inputs.py, and trainer/safe_yaml.py for YAML): this
walks the code of both command lines and fails on a raw read of a path (`open(...)` for reading,
`.read_text()`, `.read_bytes()`, `json.load()`/`json.loads()`) or a raw number from the environment
(`int(os.environ...)`, `float(os.getenv(...))`) anywhere else, unless it is in ALLOWED below with the reason it
is trusted. An entry that no longer matches anything fails too, so the list stays true."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GATE = {"trainer/inputs.py", "trainer/safe_yaml.py"}   # the readers themselves
WRITE_MODES = set("wax")                                 # open(path, "w"/"a"/"x"...): a write, not a read

# (file, enclosing function, kind of read) -> why the data it reads is trusted
ALLOWED = {
    # the package's own files, shipped with the code and reviewed like it
    ("trainer/config.py", "load_schema", "read_text"): "schemas/*.schema.json beside the code",
    ("trainer/config.py", "load_schema", "json.loads"): "schemas/*.schema.json beside the code",
    ("trainer/prepare/source.py", "source_url", "read_text"): "the dataset catalogue shipped with the package",
    ("generator/core/schemas.py", "_read", "read_text"): "schemas/ of the repository: policy, rules and sizing, its own configuration",
    ("generator/core/schemas.py", "_read", "json.loads"): "schemas/ of the repository: its JSON Schemas",
    ("generator/policy/api_schemas.py", "definitions", "read_text"): "the vendored Kubernetes API schemas",
    ("generator/policy/api_schemas.py", "definitions", "json.loads"): "the vendored Kubernetes API schemas",
    ("generator/policy/api_schemas.py", "write_schemas", "read_text"): "the vendored Kubernetes API schemas",
    ("generator/policy/api_schemas.py", "write_schemas", "json.loads"): "the vendored Kubernetes API schemas",
    ("generator/policy/api_schemas.py", "walk", "json.loads"): "a deep copy (json.loads of json.dumps), no file",
    ("generator/policy/sanitise.py", "_validator", "read_text"): "the vendored Kubernetes API schemas",
    ("generator/policy/sanitise.py", "_validator", "json.loads"): "the vendored Kubernetes API schemas",
    # the render and check caches: keys hash inputs in chunks; entries are read through the gate, then checked
    ("generator/render/render_key.py", "_file_digest", "open"): "an overlay input that is_file() found regular, hashed in 1 MiB chunks",
    ("generator/render/render_key.py", "_reader", "read_bytes"): "the package's own modules, hashed into the key",
    ("generator/policy/check_cache.py", "_files_digest", "read_bytes"): "nautilus's own code and schemas, hashed into the key",
    ("generator/render/cache.py", "get", "json.loads"): "an entry read through the gate (size-bounded); any parse error is a miss",
    ("generator/render/cache.py", "exact", "json.loads"): "a round trip of a value in memory, no file",
    # the output of the pinned tools, run by core/tools.py with a time limit and an output cap
    ("generator/core/kubectl_version.py", "client_version", "json.loads"): "`kubectl version -o json`, capped",
    ("generator/policy/kubeconform.py", "check", "json.loads"): "kubeconform's JSON report, capped",
    ("generator/deploy/kube.py", "items", "json.loads"): "`kubectl get -o json`, capped",
    ("generator/deploy/kube.py", "get", "json.loads"): "`kubectl get -o json`, capped",
    ("generator/deploy/kube.py", "dry_run", "json.loads"): "`kubectl apply --dry-run=server -o json`, capped",
    ("generator/deploy/kube.py", "apply", "json.loads"): "`kubectl apply -o json`, capped",
    ("generator/deploy/identity.py", "write", "json.loads"): "a deep copy (json.loads of json.dumps), no file",
    ("generator/deploy/settings.py", "settings", "read_text"): "generator/deploy/gitops.yaml shipped with the package",
    # the kernel's files: cgroup and /proc, not writable by the user's input
    ("trainer/cpus.py", "cgroup_quota", "read_text"): "cgroup cpu.max / cpu.cfs_*",
    ("trainer/usage.py", "__init__", "read_text"): "/proc/self/cgroup",
    ("trainer/usage.py", "cpu_seconds", "read_text"): "cgroup cpu.stat / cpuacct.usage",
    ("trainer/usage.py", "_read_int", "read_text"): "cgroup memory files",
    # files this process itself just wrote, or checked a regular file of the manifest's size just before
    ("trainer/atomic.py", "_fsync_tree", "open"): "the staged folder this run has just written (fsync only)",
    ("trainer/prepare/download.py", "_get_rest", "open"): "this download's own .part file, appended to",
    ("trainer/prepare/download.py", "_fsync", "open"): "a file this process has just written (fsync only)",
    ("trainer/prepare/pack.py", "pack", "open"): "the build folder's files, written by this run",
    ("trainer/shards.py", "unpack", "open"): "the version's archive: verify() checked it a regular file of the manifest's size",
    ("trainer/shards.py", "file_sha256", "open"): "callers check a regular file of the manifest's size first (verify)",
}


def _environment(node) -> bool:
    return any(isinstance(n, ast.Attribute) and (n.attr == "getenv" or n.attr == "environ" and
                                                  isinstance(n.value, ast.Name) and n.value.id == "os")
               for n in ast.walk(node))


def _mode(call: ast.Call) -> str:
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"


def kind(call: ast.Call) -> str | None:
    """The kind of raw read a call is, or None."""
    f = call.func
    if isinstance(f, ast.Name) and f.id == "open":
        return None if WRITE_MODES & set(_mode(call)) and "+" not in _mode(call) else "open"
    if isinstance(f, ast.Name) and f.id in ("int", "float") and any(_environment(a) for a in call.args):
        return f"{f.id}(environment)"
    if not isinstance(f, ast.Attribute):
        return None
    if f.attr in ("read_text", "read_bytes"):
        return None if isinstance(f.value, ast.Name) and f.value.id in ("inputs", "safe_yaml") else f.attr
    if f.attr in ("load", "loads") and isinstance(f.value, ast.Name) and f.value.id == "json":
        return f"json.{f.attr}"
    return None


def raw_reads(path: Path):
    """(function, kind, line) of every raw read in one file."""
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call) and (what := kind(child)):
                found.append((function, what, child.lineno))
            visit(child, inner)
    visit(ast.parse(path.read_text(), str(path)), "<module>")
    return found


def sources():
    return [p for p in sorted([*REPO.glob("trainer/**/*.py"), *REPO.glob("generator/**/*.py")])
            if str(p.relative_to(REPO)) not in GATE]


def test_every_untrusted_read_goes_through_the_gate():
    raw = [(str(p.relative_to(REPO)), *read) for p in sources() for read in raw_reads(p)]
    unexplained = [f"{file}:{line}: {what} in {function}()" for file, function, what, line in raw
                   if (file, function, what) not in ALLOWED]
    assert not unexplained, ("raw reads outside trainer/inputs.py: read through the gate, or add a trusted read "
                             "to ALLOWED with its reason:\n" + "\n".join(unexplained))
    stale = set(ALLOWED) - {(file, function, what) for file, function, what, _ in raw}
    assert not stale, f"ALLOWED entries that match no read any more: {sorted(stale)}"


def test_the_walk_finds_what_it_must():
    """The walker itself, on code written the ways it must catch."""
    code = ("import json, os\n"
            "def f(p):\n"
            "    open(p)\n    open(p, 'rb')\n    p.read_text()\n    p.read_bytes()\n    json.loads(p.read_text())\n"
            "    json.load(open(p))\n    int(os.environ['N'])\n    float(os.environ.get('X', 1))\n    int(os.getenv('Y'))\n"
            "    open(p, 'w')\n    inputs.read_text(p, 'x', 1)\n    safe_yaml.read_text(p)\n    int(p)\n")
    tree = ast.parse(code)
    kinds = [kind(c) for c in ast.walk(tree) if isinstance(c, ast.Call) and kind(c)]
    assert sorted(kinds) == sorted(["open", "open", "read_text", "read_bytes", "json.loads", "read_text", "json.load",
                                    "open", "int(environment)", "float(environment)", "int(environment)"])
