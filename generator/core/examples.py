"""The template's example overlays, as overlays/examples.yaml lists them: NAME and the folders its `nautilus new`
command writes (NAME.results, and NAME.dev with --dev-pod). A fork's report and `validate --all` keep them apart
from the fork's own overlays; `nautilus examples remove` removes them."""
from pathlib import Path

from generator.core import repo
from trainer import safe_yaml
from trainer.errors import UsageError

LIST = "examples.yaml"


def listed(overlays: Path | None = None) -> dict[str, list[str]]:
    """name -> the `nautilus new` arguments that wrote it; {} when overlays/ lists no examples."""
    path = (overlays if overlays is not None else repo.overlays()) / LIST
    if not path.is_file():
        return {}
    data = safe_yaml.load(safe_yaml.read_text(path, str(path)), str(path))
    return {str(k): [str(a) for a in v or []] for k, v in data.items()} if isinstance(data, dict) else {}


def folders(overlays: Path | None = None) -> list[Path]:
    """Every folder the examples' commands write, sorted (whether it exists or not)."""
    overlays = overlays if overlays is not None else repo.overlays()
    names = set()
    for name, args in listed(overlays).items():
        names |= {name, f"{name}.results"} | ({f"{name}.dev"} if "--dev-pod" in args else set())
    return sorted(overlays / name for name in names)


def is_example(path: Path | str, overlays: Path | None = None) -> bool:
    """Whether path is one of the examples' folders (overlays/examples.yaml)."""
    try:
        return Path(path).resolve() in {f.resolve() for f in folders(overlays)}
    except (OSError, UsageError):
        return False


def labels(among: list[str]) -> set[str]:
    """The examples among these source labels (as `validate` and `report` print them); none outside a repository."""
    try:
        return {repo.relative(folder) for folder in folders()} & set(among)
    except (OSError, UsageError):
        return set()


NOTE = "`nautilus examples remove` removes them"
