"""The README and docs/ tell the truth about this repository.

- every `nautilus` command parses (options, arguments, types) and has `--help`; every complete
  `nautilus new` runs for real and its overlay validates;
- every `make` target, repository path and relative link (with its #anchor) exists, and the README links
  every page;
- every kubectl command uses real kubectl flags and names only overlays, labels, kinds and object names
  that the committed overlays render;
- every `python -m` / `torchrun` command names a module, flags and values that the code accepts;
- train.yaml fragments pass the schema, rule ids exist, report examples are what `nautilus report`
  prints, docs/rules.md is what `nautilus validate --rules-markdown` generates, Mermaid blocks render.

The docs call the reader's project `myproject` (made with `nautilus new myproject ...`): a name, label
value or path with that project name is accepted when some committed overlay has the same thing under
its own name.
"""
import contextlib
import functools
import importlib
import importlib.util
import io
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from generator.cli import main
from generator.deploy.settings import settings
from kube_support import example_folders, examples_repo, git

REPO = examples_repo()  # the working tree, or a copy with the examples where a fork removed them
SCHEMAS, TOOLS_BIN = REPO / "schemas", REPO / ".tools" / "bin"
from generator.render.kustomize import load_documents, render

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
TOP_LEVEL = r"(?:\.github|\.ci|\.tools|base|overlays|generator|trainer|schemas|tests|bench|scripts|docs)"
PATH_RE = re.compile(rf"(?<![\w./:<>@-]){TOP_LEVEL}/[\w./<>*@-]*")
CLUSTER_KINDS = {  # what kubectl may name that no overlay creates
    "node": "Node", "nodes": "Node", "no": "Node",
    "event": "Event", "events": "Event", "ev": "Event",
    "storageclass": "StorageClass", "storageclasses": "StorageClass", "sc": "StorageClass",
    "namespace": "Namespace", "namespaces": "Namespace", "ns": "Namespace",
}
OVERLAY_KINDS = {
    "pod": "Pod", "pods": "Pod", "po": "Pod",
    "job": "Job", "jobs": "Job", "job.batch": "Job",
    "pvc": "PersistentVolumeClaim", "persistentvolumeclaim": "PersistentVolumeClaim",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "configmap": "ConfigMap", "configmaps": "ConfigMap", "cm": "ConfigMap",
    "service": "Service", "services": "Service", "svc": "Service",
}
# kubectl verbs whose positional arguments are objects: TYPE NAME... or TYPE/NAME...
OBJECT_VERBS = {"get", "describe", "delete", "wait", "logs", "exec", "cp", "edit", "label", "annotate"}
KUBECTL_PLUGINS = {"oidc-login", "krew"}  # kubelogin (NRP's login) and the plugin manager that installs it
MERMAID_TYPES = {"flowchart", "graph", "sequenceDiagram", "stateDiagram-v2", "classDiagram", "gantt", "pie"}


# ---------------------------------------------------------------- reading the docs

def _strip_fences(text):
    """(prose without fenced blocks, [(lang, body)])."""
    blocks = []

    def keep(match):
        blocks.append((match["lang"].strip().lower(), match["body"]))
        return "\n" * match.group(0).count("\n")

    prose = re.sub(r"^ *```(?P<lang>[^\n`]*)\n(?P<body>.*?)^ *```[ \t]*$", keep, text, flags=re.M | re.S)
    return prose, blocks


@functools.cache
def parsed(doc: Path):
    prose, blocks = _strip_fences(doc.read_text())
    spans = re.findall(r"`([^`\n]+)`", prose)
    return prose, blocks, spans


def code_texts(doc):
    """Every piece of code in a doc except diagrams: inline spans and fenced blocks."""
    _, blocks, spans = parsed(doc)
    return spans + [body for lang, body in blocks if lang != "mermaid"]


GITOPS = settings()  # the deploy identity's folder and the record's name, which `nautilus gitops` writes
MENTIONS = set()  # (doc, command) named in prose, like `nautilus new`: must exist, need not be complete


def shell_commands(doc):
    """Each simple command (token list) in shell blocks and in inline spans that start with a tool."""
    _, blocks, spans = parsed(doc)
    lines = [span for span in spans if re.match(r"(nautilus|kubectl|make|python|torchrun)\s", span)]
    MENTIONS.update((doc, tuple(span.split())) for span in lines if re.fullmatch(r"nautilus( [a-z-]+)?", span))
    for lang, body in blocks:
        if lang in SHELL_LANGS:
            lines += body.replace("\\\n", " ").splitlines()
    for line in lines:
        lexer = shlex.shlex(line.strip().removeprefix("$ "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command, skip = [], False
        for token in list(lexer) + [";"]:
            if skip:
                skip = False
            elif token in {">", ">>", "<", "2>"}:
                skip = True
            elif token in {"&&", "||", "|", ";", "&", "(", ")"}:
                if command:
                    yield doc, command
                command = []
            else:
                command.append(token)


def all_commands(tool):
    return [(doc, cmd) for doc in DOCS for doc, cmd in shell_commands(doc) if cmd[0] == tool]


@functools.cache
def doc_projects():
    """Project names the docs create with `nautilus new NAME`."""
    names = set()
    for _, cmd in all_commands("nautilus"):
        if cmd[1:2] == ["new"] and len(cmd) > 2 and not cmd[2].startswith("-"):
            names.add(cmd[2])
    return frozenset(names)


def where(doc, what):
    return f"{doc.relative_to(REPO)}: {what}"


# ---------------------------------------------------------------- the committed overlays

@functools.cache
def overlays():
    """The committed examples, rendered (a user's own overlays beside them are not what the docs describe)."""
    return {p.name: load_documents(render(p), str(p)) for p in example_folders()}


def _instance(obj, overlay):
    """The project an object belongs to: its app.kubernetes.io/instance label, else its overlay's name."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/instance", overlay)


def _aliases(value: str, instance: str):
    """value itself and value with the project's name replaced by each project name of the docs."""
    return {value} | {value.replace(instance, project) for project in doc_projects() if instance in value}


@functools.cache
def rendered_names():
    """{(kind, name)} of every rendered object, with project-name aliases."""
    names = set()
    for overlay, objects in overlays().items():
        for obj in objects:
            names |= {(obj["kind"], alias) for alias in _aliases(obj["metadata"]["name"], _instance(obj, overlay))}
    return frozenset(names)


@functools.cache
def rendered_labels():
    """{(key, value)} on every rendered object and pod template, with project-name aliases."""
    labels = set()

    def walk(node, instance):
        if isinstance(node, dict):
            meta = node.get("metadata")
            if isinstance(meta, dict) and isinstance(meta.get("labels"), dict):
                for key, value in meta["labels"].items():
                    labels.update((key, alias) for alias in _aliases(str(value), instance))
            for child in node.values():
                walk(child, instance)
        elif isinstance(node, list):
            for child in node:
                walk(child, instance)

    for overlay, objects in overlays().items():
        for obj in objects:
            walk(obj, _instance(obj, overlay))
    return frozenset(labels)


def repo_path_exists(path: str) -> bool:
    path = path.rstrip("/")
    candidates = {path}
    for project in doc_projects():
        for overlay in overlays():
            candidates.add(re.sub(rf"\b{re.escape(project)}\b", overlay, path))
    return any((REPO / candidate).exists() for candidate in candidates)


# ---------------------------------------------------------------- nautilus

def resolve_nautilus(cmd):
    """(click command, its name path, remaining args) for a `nautilus ...` token list."""
    command, names, args = main, ["nautilus"], cmd[1:]
    while isinstance(command, click.Group) and args and args[0] in command.commands:
        command = command.commands[args[0]]
        names.append(args[0])
        args = args[1:]
    return command, names, args


def test_docs_name_nautilus_commands():
    assert all_commands("nautilus"), "the docs show no nautilus command"
    assert doc_projects(), "the docs never make a project with `nautilus new NAME`"


def _id(value):
    return " ".join(value) if isinstance(value, list) else value.name


@pytest.mark.parametrize("doc,cmd", all_commands("nautilus"), ids=_id)
def test_nautilus_command_parses(doc, cmd, monkeypatch):
    monkeypatch.chdir(REPO)
    command, names, args = resolve_nautilus(cmd)
    group_help = isinstance(command, click.Group) and args in ([], ["--help"], ["-h"])
    if group_help or (not args and (doc, tuple(cmd)) in MENTIONS):
        return  # `nautilus`, `nautilus new` named in prose: test_nautilus_help_of_every_command_named runs them
    assert not isinstance(command, click.Group), where(doc, f"`{' '.join(cmd)}`: no such subcommand")
    if "..." in args or "--help" in args or "-h" in args:  # elided, or help: its options must exist
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"-h", "--help"}
        for token in args:
            if token.startswith("-") and token != "-":
                assert token.split("=")[0] in known, where(doc, f"`{' '.join(cmd)}`: no option {token}")
        return
    # The project the docs create stands for a committed overlay when a path must exist.
    if names[1:] != ["new"] and overlays() and doc_projects():
        overlay = sorted(overlays())[0]
        args = [re.sub(rf"\b({'|'.join(map(re.escape, doc_projects()))})\b", overlay, a) for a in args]
    try:
        command.make_context(" ".join(names), list(args))
    except click.ClickException as exc:
        pytest.fail(where(doc, f"`{' '.join(cmd)}` does not parse: {exc.format_message()}"))


def test_nautilus_new_commands_in_the_docs_write_valid_overlays(tmp_path):
    """Each complete `nautilus new` of the docs, run for real into a temporary folder, then validated."""
    runner, written = CliRunner(), []
    for i, (doc, cmd) in enumerate(all_commands("nautilus")):
        command, names, args = resolve_nautilus(cmd)
        if names != ["nautilus", "new"] or not args or "..." in args or "--help" in args or "-h" in args:
            continue
        out = tmp_path / str(i)
        out.mkdir()
        result = runner.invoke(main, [*names[1:], *args, "--output-dir", str(out)])
        assert result.exit_code == 0, where(doc, f"`{' '.join(cmd)}` failed: {result.output}")
        written += sorted(p for p in out.iterdir() if p.is_dir())
    assert written, "no complete `nautilus new` command in the docs"
    result = runner.invoke(main, ["validate", *map(str, written)])
    assert result.exit_code == 0, f"overlays from the docs' `nautilus new` commands do not validate:\n{result.output}"


def test_nautilus_help_of_every_command_named():
    runner = CliRunner()
    paths = {tuple(resolve_nautilus(cmd)[1]) for _, cmd in all_commands("nautilus")}
    for path in sorted(paths):
        result = runner.invoke(main, [*path[1:], "--help"])
        assert result.exit_code == 0, f"`{' '.join(path)} --help` failed: {result.output}"
        assert "Usage:" in result.output


# ---------------------------------------------------------------- make

def makefile_targets():
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.M))


def test_make_targets_exist():
    targets = makefile_targets()
    named = [(doc, cmd) for doc, cmd in all_commands("make")]
    assert named, "the docs name no make target"
    for doc, cmd in named:
        for target in cmd[1:]:
            if not target.startswith("-") and "=" not in target:
                assert target in targets, where(doc, f"`make {target}`: no such target in the Makefile")


def test_readme_quickstart_is_make_demo_and_make_test():
    _, blocks, _ = parsed(REPO / "README.md")
    first = next(body for lang, body in blocks if lang in SHELL_LANGS)
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


# ---------------------------------------------------------------- paths and links

def test_repository_paths_exist():
    missing = set()
    for doc in DOCS:
        for text in code_texts(doc):
            for path in PATH_RE.findall(text):
                path = path.rstrip(".,:;")
                if re.search(r"[<*]", path):  # `overlays/<project>/x` -> `overlays/`
                    path = re.split(r"[<*]", path)[0].rsplit("/", 1)[0] + "/"
                if not repo_path_exists(path):
                    missing.add(where(doc, path))
    assert not missing, "paths named in the docs do not exist:\n" + "\n".join(sorted(missing))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(doc: Path):
    prose, _, _ = parsed(doc)
    return {github_anchor(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose, flags=re.M)}


def test_relative_links_resolve():
    broken = []
    for doc in DOCS:
        prose, _, _ = parsed(doc)
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (doc.parent / file_part).resolve() if file_part else doc
            if not dest.exists():
                broken.append(where(doc, f"{target}: no such file"))
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(where(doc, f"{target}: no heading #{anchor} in {dest.name}"))
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    prose, _, _ = parsed(REPO / "README.md")
    linked = {(REPO / t.partition("#")[0]).resolve() for t in re.findall(r"\]\(([^)\s#]+)", prose)}
    unlinked = [d.name for d in DOCS[1:] if d.resolve() not in linked]
    assert not unlinked, f"docs pages not linked from README.md: {unlinked}"


# ---------------------------------------------------------------- kubectl

def kubectl_binary():
    for candidate in (TOOLS_BIN / "kubectl", shutil.which("kubectl")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


# Used only where no kubectl is installed (a fresh machine running `make test`); where one is,
# test_kubectl_fallback_flags_are_real checks this table against it. {verb: {flag: takes a value}}
KUBECTL_FALLBACK = {
    "": {"-n": True, "--namespace": True, "--context": True, "-h": False, "--help": False},
    "apply": {"-k": True, "--kustomize": True, "-f": True, "--filename": True, "-l": True, "--selector": True,
              "--server-side": False, "--dry-run": True, "--prune": False, "--prune-allowlist": True},
    "delete": {"-k": True, "--kustomize": True, "-f": True, "--filename": True, "-l": True, "--selector": True,
               "--wait": False, "--ignore-not-found": False},
    "get": {"-l": True, "--selector": True, "-L": True, "--label-columns": True, "-o": True, "--output": True,
            "-w": False, "--watch": False, "--sort-by": True, "-A": False, "--all-namespaces": False},
    "describe": {"-l": True, "--selector": True},
    "logs": {"-f": False, "--follow": False, "-c": True, "--container": True, "--tail": True, "-p": False,
             "--previous": False, "-l": True, "--selector": True, "--all-containers": False, "--since": True},
    "wait": {"--for": True, "--timeout": True, "-l": True, "--selector": True},
    "exec": {"-i": False, "--stdin": False, "-t": False, "--tty": False, "-c": True, "--container": True},
    "cp": {"-c": True, "--container": True},
    "top pod": {"-l": True, "--selector": True},
    "config get-contexts": {}, "config use-context": {}, "config set": {},
}


@functools.cache
def kubectl_flags(*verb):
    """{flag: takes_value} for `kubectl VERB...`, global options included."""
    kubectl = kubectl_binary()
    if kubectl is None:
        key = " ".join(verb)
        assert key in KUBECTL_FALLBACK, f"no kubectl here: add `kubectl {key}` to KUBECTL_FALLBACK in tests/test_docs.py"
        return {**KUBECTL_FALLBACK[""], **KUBECTL_FALLBACK[key]}
    flags = {"-h": False, "--help": False}
    for args in ([*verb, "--help"], ["options"]):
        out = subprocess.run([kubectl, *args], capture_output=True, text=True, check=True).stdout
        for short, long, default in re.findall(r"^\s+(?:(-\w), )?(--[\w-]+)=(\S*):\s*$", out, flags=re.M):
            takes_value = default not in ("false", "true")
            flags[long] = takes_value
            if short:
                flags[short] = takes_value
    return flags


def test_kubectl_fallback_flags_are_real():
    if kubectl_binary() is None:
        pytest.skip("no kubectl here to compare the fallback table with")
    wrong = []
    for verb, flags in KUBECTL_FALLBACK.items():
        real = kubectl_flags(*verb.split()) if verb else kubectl_flags("get")
        wrong += [f"kubectl {verb} {flag}" for flag, value in flags.items() if real.get(flag) != value]
    assert not wrong, f"KUBECTL_FALLBACK disagrees with kubectl: {wrong}"


def split_kubectl(cmd):
    """(verb path, {flag: value}, positionals) of a kubectl token list."""
    verb = [cmd[1]]
    if cmd[1] in {"config", "rollout", "auth", "create", "set", "top"} and len(cmd) > 2:
        verb.append(cmd[2])
    if cmd[1] in KUBECTL_PLUGINS:  # not kubectl's own commands
        return verb, {}, []
    known = kubectl_flags(*verb)
    flags, positionals, tokens = {}, [], iter(cmd[1 + len(verb):])
    for token in tokens:
        if token == "--":
            break
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            assert name in known, f"`{' '.join(cmd)}`: kubectl {' '.join(verb)} has no flag {name}"
            flags[name] = value if eq or not known[name] else next(tokens, "")
        elif token.startswith("-") and len(token) > 1:
            for i, char in enumerate(token[1:]):  # combined shorthands: -it
                name = "-" + char
                assert name in known, f"`{' '.join(cmd)}`: kubectl {' '.join(verb)} has no flag {name}"
                if known[name]:
                    rest = token[2 + i:]
                    flags[name] = rest if rest else next(tokens, "")
                    break
                flags[name] = ""
        else:
            positionals.append(token)
    return verb, flags, positionals


def selector_problems(selector):
    """Label keys and values a selector names that no committed overlay carries."""
    labels = rendered_labels()
    keys = {key for key, _ in labels}
    problems = []
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", selector):
        term = term.strip()
        match = re.fullmatch(r"(!?)([\w./-]+)\s*(?:(==|!=|=)\s*([\w.-]*)|\s+(in|notin)\s+\(([^)]*)\))?", term)
        if not match:
            problems.append(f"unreadable selector term {term!r}")
            continue
        key = match[2]
        values = [match[4]] if match[3] else [v.strip() for v in (match[6] or "").split(",") if v.strip()]
        if key not in keys:
            problems.append(f"no object carries the label {key}")
        problems += [f"no object carries {key}={value}" for value in values if (key, value) not in labels]
    return problems


def object_refs(verb, positionals):
    """(kind word, name or None) pairs named by the positional arguments of an object verb."""
    if verb[0] not in OBJECT_VERBS:
        return []
    args = positionals
    if verb[0] == "exec":
        return [("pod", args[0])] if args else []
    if verb[0] == "cp":
        return [("pod", arg.split(":")[0]) for arg in args if ":" in arg]
    if verb[0] == "logs":
        return [tuple(args[0].split("/", 1)) if "/" in args[0] else ("pod", args[0])] if args else []
    refs = []
    if args and "/" not in args[0]:
        kinds = args[0].split(",")
        refs += [(kind, name) for kind in kinds for name in args[1:]] or [(kind, None) for kind in kinds]
    else:
        refs += [tuple(arg.split("/", 1)) for arg in args]
    return refs


def test_docs_name_kubectl_commands():
    assert all_commands("kubectl"), "the docs show no kubectl command"


@pytest.mark.parametrize("doc,cmd", all_commands("kubectl"), ids=_id)
def test_kubectl_command_matches_overlays(doc, cmd):
    try:
        verb, flags, positionals = split_kubectl(cmd)
    except AssertionError as exc:
        pytest.fail(where(doc, str(exc)))
    problems = []
    for flag in ("-k", "--kustomize"):
        if flag in flags and flags[flag] == GITOPS["identity"]["folder"]:
            continue  # what `nautilus gitops identity` writes (docs/gitops.md)
        if flag in flags and not any(
            (REPO / alias / "kustomization.yaml").is_file()
            for alias in [flags[flag]] + [flags[flag].replace(p, o) for p in doc_projects() for o in overlays()]
        ):
            problems.append(f"{flags[flag]} is not a committed overlay")
    for flag in ("-l", "--selector"):
        if flag in flags:
            problems += selector_problems(flags[flag])
    for word, name in object_refs(verb, positionals):
        word = word.lower()
        if word in CLUSTER_KINDS:
            continue
        if word not in OVERLAY_KINDS:
            problems.append(f"{word}: not a kind the overlays create (or list it in CLUSTER_KINDS)")
        elif name and (OVERLAY_KINDS[word], name) not in rendered_names() and (word, name) != ("configmap", GITOPS["record"]):
            problems.append(f"no {OVERLAY_KINDS[word]} named {name} in the committed overlays")
    assert not problems, where(doc, f"`{' '.join(cmd)}`: " + "; ".join(problems))


# ---------------------------------------------------------------- python -m / torchrun

def module_commands():
    found = []
    for tool in ("python", "torchrun"):
        for doc, cmd in all_commands(tool):
            if "-m" in cmd:
                i = cmd.index("-m")
                found.append((doc, cmd, cmd[i + 1], cmd[i + 2:], cmd[1:i]))
    return found


def run_module_cli(module, argv):
    """(exit code, stdout + stderr) of `python -m module ARGV`, run in this process (one torch import)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), pytest.raises(SystemExit) as exited:
        if module == "torch.distributed.run":  # torchrun
            from torch.distributed.run import get_args_parser

            get_args_parser().parse_args(argv)
        else:
            entry = importlib.import_module(module)
            if hasattr(entry, "__path__"):  # a package: python -m runs its __main__
                entry = importlib.import_module(f"{module}.__main__")
            entry.main(argv)
    return exited.value.code or 0, out.getvalue()


def test_module_commands_name_real_modules_and_flags():
    """Modules exist, their flags exist, and the values given parse: argparse checks each option's type
    and choices as it reads it, so ARGS + `--help` exits 0 only when ARGS are well-formed."""
    commands = module_commands()
    assert commands, "the docs show no `python -m` or torchrun command"
    problems = []
    for doc, cmd, module, args, launcher_args in commands:
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            problems.append(where(doc, f"`{' '.join(cmd)}`: no module {module}"))
            continue
        checks = [(module, args)] + ([("torch.distributed.run", launcher_args)] if cmd[0] == "torchrun" else [])
        for name, argv in checks:
            if "..." in argv:
                argv = [a for a in argv if a.startswith("--")]  # elided values: only the flags
            code, text = run_module_cli(name, ["--help"])
            assert code == 0, f"`python -m {name} --help` failed: {text}"
            flags = [a.split("=")[0] for a in argv if a.startswith("--")]
            problems += [where(doc, f"`{' '.join(cmd)}`: {name} has no flag {f}")
                         for f in flags if not re.search(rf"{re.escape(f)}\b", text)]
            if "..." not in args:
                code, text = run_module_cli(name, [*argv, "--help"])
                if code != 0:
                    problems.append(where(doc, f"`{' '.join(cmd)}`: {name} rejects it: {text.strip()[-300:]}"))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- train.yaml fragments, rules, diagrams

def test_train_yaml_fragments_pass_the_schema():
    schema = json.loads((SCHEMAS / "train-config.schema.json").read_text())
    fragments = []
    for doc in DOCS:
        for lang, body in parsed(doc)[1]:
            if lang in {"yaml", "yml"}:
                data = YAML(typ="safe").load(body)
                if isinstance(data, dict) and "dataset" in data:
                    fragments.append((doc, data))
    assert fragments, "the docs show no train.yaml fragment"
    for doc, data in fragments:
        errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
        assert not errors, where(doc, f"train.yaml fragment fails the schema: {errors}")


def test_rules_page_is_generated_from_the_rule_table():
    result = CliRunner().invoke(main, ["validate", "--rules-markdown"])
    assert result.exit_code == 0, f"`nautilus validate --rules-markdown` failed: {result.output}"
    assert (REPO / "docs" / "rules.md").read_text() == result.output, (
        "docs/rules.md is out of date: run `nautilus validate --rules-markdown > docs/rules.md`"
    )


def test_rule_ids_named_in_the_docs_exist():
    ids = {rule["id"] for rule in YAML(typ="safe").load((SCHEMAS / "rules.yaml").read_text())}
    named = [(doc, rule) for doc in DOCS for rule in re.findall(r"\brules? `([a-z0-9-]+)`", parsed(doc)[0])]
    assert named, "the docs name no rule id"
    unknown = [where(doc, rule) for doc, rule in named if rule not in ids]
    assert not unknown, f"rule ids not in schemas/rules.yaml: {unknown}"


def _pull_request(folder: Path, changes: list[str]) -> None:
    """folder: a git repository of the template's committed examples (example_folders()), base/ and schemas/
    on branch main, then changed by the `nautilus` commands in changes (run in it, uncommitted): what a pull
    request's report compares."""
    for part in ("base", "schemas"):
        shutil.copytree(REPO / part, folder / part)
    for overlay in example_folders():
        shutil.copytree(overlay, folder / "overlays" / overlay.name)
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "the examples")
    for change in changes:
        result = CliRunner().invoke(main, shlex.split(change)[1:], catch_exceptions=False)
        assert result.exit_code == 0, f"`{change}` failed: {result.output}"


def test_report_examples_are_real_output(monkeypatch, tmp_path):
    """A block between `<!-- nautilus report ARGS -->` and `<!-- end -->` is what that command prints here.
    `<!-- nautilus report ARGS; after: COMMAND; after: COMMAND -->` shows a pull request's report: what the
    command prints in a repository of the committed examples on branch main after those commands changed it."""
    block = re.compile(r"<!-- (nautilus report [^>]*?) -->\n(.*?)<!-- end -->", re.S)
    examples = [(doc, match) for doc in DOCS for match in block.finditer(doc.read_text())]
    assert examples, "the docs show no report example"
    for index, (doc, match) in enumerate(examples):
        command, *changes = match[1].split("; after: ")
        if changes:
            folder = tmp_path / str(index)
            monkeypatch.chdir(folder.mkdir() or folder)
            _pull_request(folder, changes)
        else:
            monkeypatch.chdir(REPO)
        result = CliRunner().invoke(main, shlex.split(command)[1:])
        assert result.exit_code == 0, where(doc, f"`{command}` failed: {result.output}")
        assert match[2].strip(), where(doc, f"`{match[1]}` shows no output; it prints:\n{result.output}")
        assert match[2].strip() in result.output, where(doc, f"`{match[1]}` prints something else now:\n{result.output}")


def test_mermaid_blocks_are_renderable():
    diagrams = [(doc, body) for doc in DOCS for lang, body in parsed(doc)[1] if lang == "mermaid"]
    assert len(diagrams) >= 2, "the workflow and the data flow need Mermaid diagrams"
    for doc, body in diagrams:
        first = body.strip().split()[0]
        assert first in MERMAID_TYPES, where(doc, f"unknown Mermaid diagram type {first}")
        # Labels with punctuation must be quoted, or Mermaid reads the punctuation as syntax.
        for label in re.findall(r"\w\[([^\]\"(][^\]\"]*)\]", body):
            assert not re.search(r"[()/:;<>{}]", label), where(doc, f"quote the Mermaid label [{label}]")
        opened = sum(body.count(c) for c in "[({")
        closed = sum(body.count(c) for c in "])}")
        assert opened == closed, where(doc, "unbalanced brackets in a Mermaid block")


def test_the_documents_speak_of_the_project_and_its_users():
    """Not of the environment they were written in: a figure not measured says so and how to measure it."""
    words = re.compile(r"\b(workplace|lent|device (?:run|image)|sessions?)\b", re.I)
    files = [*DOCS, REPO / "trainer/README.md", *sorted(p for p in (REPO / "bench").iterdir() if p.is_file())]
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}" for path in files
             for number, line in enumerate(path.read_text().splitlines(), 1) if words.search(line)]
    assert not found, "\n".join(found)
    assert "not measured on a GPU yet" in (REPO / "docs/performance.md").read_text()


def _readme_steps() -> dict[int, str]:
    """The README's numbered walk-through: {number: the step's text}."""
    text = (REPO / "README.md").read_text()
    parts = re.split(r"^(\d+)\. \*\*", text, flags=re.M)
    return {int(number): body for number, body in zip(parts[1::2], parts[2::2])}


def test_references_to_readme_steps_name_the_right_step():
    steps = _readme_steps()
    for doc in DOCS:
        for number in re.findall(r"README(?:'s)? step (\d+)", doc.read_text()):
            assert int(number) in steps, f"{doc.name}: README step {number} does not exist"
    adapting = (REPO / "docs/adapting.md").read_text()
    number = int(re.search(r"\[README step (\d+)\]\([^)]*\) for the one click", adapting)[1])
    assert "Change visibility" in steps[number] and "pull secret" in steps[number], f"README step {number}"


def test_results_are_copied_where_git_does_not_see_them():
    """`kubectl cp` from a pod, run from the repository root as written, writes outside the repository or into
    a folder git ignores: no untracked samples/ left in the user's working tree."""
    copies = [(doc.name, match[1]) for doc in DOCS
              for match in re.finditer(r"kubectl cp \S+:\S+ (\S+)", doc.read_text())]
    assert copies
    for doc, destination in copies:
        if destination.startswith(("/", "~", "..")):
            continue
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", destination], cwd=REPO)
        assert ignored.returncode == 0, f"{doc}: kubectl cp writes {destination}, which git would show as untracked"
