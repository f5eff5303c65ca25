"""What to prepare: the `dataset` section of train.yaml (or CLI flags) turned into one source."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from urllib.parse import urlparse

from ruamel.yaml import YAML

from trainer import config
from trainer.errors import UsageError

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
FORMAT_VERSION = 1  # bump when the shard layout changes: published versions then get rebuilt


@dataclasses.dataclass(frozen=True)
class Spec:  # the schema's dataset section, defaults filled
    name: str
    url: str | None = None
    path: str | None = None
    sha256: str | None = None
    base_url: str | None = None
    load_size: int = 286
    keep_originals: bool = False
    compression: str = "zstd"


def load_spec(config_path: Path | None, **flags) -> Spec:
    """train.yaml's dataset section (validated by the shared schema) with the flags that are set on top."""
    cfg = config.load(config_path) if config_path else {}
    dataset = dict(cfg.get("dataset", {}))
    given = {k: v for k, v in flags.items() if v is not None}
    if "url" in given or "path" in given:  # a source flag replaces the file's source
        dataset.pop("url", None), dataset.pop("path", None)
    document = {"dataset": {**dataset, **given}}
    schema = config.load_schema()
    config.validate(document, schema, str(config_path or "flags"))
    return Spec(**config.fill_defaults(schema, document)["dataset"])


def source_url(spec: Spec) -> str | None:
    """The archive to fetch: dataset.url, or the catalogue's URL for the name; None for a local folder."""
    if spec.path:
        return None
    if spec.url:
        return spec.url
    catalogue = YAML(typ="safe").load(CATALOGUE.read_text())
    if spec.name in catalogue["not_hosted"]:
        raise UsageError(f"{spec.name} is not downloadable", catalogue["not_hosted"][spec.name])
    if spec.name not in catalogue["names"]:
        raise UsageError(f"{spec.name!r} is not in the CycleGAN catalogue",
                        f"set dataset.url or dataset.path, or use one of {', '.join(catalogue['names'])}")
    return (spec.base_url or catalogue["base_url"]).rstrip("/") + f"/{spec.name}.zip"


def fingerprint(spec: Spec) -> str:
    """Identifies the result without fetching anything: same fingerprint, same published dataset."""
    identity = {**dataclasses.asdict(spec), "format": FORMAT_VERSION, "url": source_url(spec)}
    if spec.path:  # a local folder: its listing stands for its content
        root = Path(spec.path)
        if not root.is_dir():
            raise UsageError(f"dataset.path {root} is not a folder", "point dataset.path at a folder with trainA/ and trainB/")
        identity["listing"] = sorted(
            (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file())
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def local_file(url: str) -> Path | None:
    """The path of a file:// URL (read in place, never copied); None for http(s)."""
    parsed = urlparse(url)
    return Path(os.path.normpath(parsed.path)) if parsed.scheme == "file" else None
