"""Compare the variants of a sweep side by side.

    python -m trainer.compare /data/runs/<run> [--out DIR] [--root /data]

Writes compare.md, compare.csv and contact.png into the run folder (or --out): one row per variant (the
train.yaml keys that differ, steps done, state, final losses, cycle-consistency and identity L1 on the test
split, images/s, utilisation) and each variant's latest sample grid, labelled, side by side. Works on a copy
of the run folder; torch is imported only for the test-split metrics, which need the dataset under --root
(default: the folder two levels above the run folder, /data for /data/runs/<run>).
"""
import argparse
import csv
import io
import math
import os
import re
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from . import atomic, cli, inputs, safe_yaml
from .errors import UsageError
from .variants import MAX_VARIANTS, value_text

RECORD = "variant.json"  # written by trainer.sweep
LOSSES = ("G_A", "G_B", "D_A", "D_B", "cycle_A", "cycle_B", "idt_A", "idt_B")
STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
STATES = {"finished": "done", "failed": "failed", "running": "running", "stopped": "running"}
TILE_WIDTH, COLUMNS_MAX, PAD = 384, 4, 8
MAX_TILE_HEIGHT = 4 * TILE_WIDTH  # a sample grid scaled to TILE_WIDTH: rows of images, never a strip
MAX_EVENT_BYTES = 2**30  # a run's TensorBoard events: ~1 KB per logged step
RECORD_FIELDS = {"index": int, "name": str, "set": dict, "state": str, "error": str}
FIGURES = (("gpu", "mean_percent"), ("cpu", "percent_of_request"), ("memory", "mean_percent_of_request"))


def variant_folders(run: Path) -> list[Path]:
    """Sub-folders that are a variant's run (a sweep record or a config), in completion-index order."""
    found = [p for p in sorted(run.iterdir()) if p.is_dir() and ((p / RECORD).is_file() or (p / "config.yaml").is_file())]
    if len(found) > MAX_VARIANTS:  # a sweep has at most that many; more is not a sweep's folder
        raise UsageError(f"{run} holds {len(found)} run folders, more than a sweep's {MAX_VARIANTS}",
                         "pass one sweep's run folder, /data/runs/<run>")
    return sorted(found, key=lambda p: (record(p).get("index", math.inf), p.name))


def read_json(path: Path, fields: dict[str, type]) -> dict:
    """A JSON object the run wrote (variant.json, usage.json), {} when absent; each of fields, when present,
    of its type. Anything else, a FIFO or a list or a string where a number belongs, is one UsageError."""
    if not os.path.lexists(path):
        return {}
    fix = f"delete {path} (the run writes it again) or pass another run folder"
    data = inputs.mapping(inputs.read_json(path, str(path), fix=fix), str(path), fix)
    for key, kind in fields.items():
        if data.get(key) is not None and (not isinstance(data[key], kind) or isinstance(data[key], bool)):
            raise UsageError(f"{path}: {key} is not a JSON {kind.__name__}", fix)
    return data


def record(folder: Path) -> dict:
    """The sweep's record of a variant (trainer.sweep writes it), checked."""
    return read_json(folder / RECORD, RECORD_FIELDS)


def usage(path: Path) -> dict:
    """A usage summary trainer.usage wrote, its figures checked (numbers, finite, not negative)."""
    summary = read_json(path, {"gpu": dict, "cpu": dict, "memory": dict})
    for section, key in FIGURES:
        value = (summary.get(section) or {}).get(key)
        if value is not None:
            inputs.number(value, f"{path}: {section}.{key}", 0, math.inf,
                          fix=f"delete {path} (the run writes it again) or pass another run folder")
    return summary


def flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def scalars(folder: Path) -> dict[str, list[float]]:
    """TensorBoard scalars of a run: tag -> values in step order (empty without event files)."""
    files = sorted(folder.glob("events.out.tfevents.*"))
    if not files:
        return {}
    for path in files:  # the reader below opens them by name: each must be a regular file within the bound
        inputs.regular_file(path, str(path), MAX_EVENT_BYTES, f"delete {path} or pass another run folder")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # slow; only with event files
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [e.value for e in sorted(events.Scalars(tag), key=lambda e: e.step)] for tag in events.Tags()["scalars"]}


def utilisation(folder: Path, logged: dict) -> str:
    """The usage summary the run wrote (GPU, CPU and memory against the requests), else the logged GPU use."""
    for path in [folder / "usage.json", *sorted(folder.glob("usage-node*.json"))]:  # written by trainer.usage
        summary = usage(path)
        parts = [f"{label} {value:.0f}%" for label, (section, key) in zip(("GPU", "CPU", "memory"), FIGURES)
                 if (value := (summary.get(section) or {}).get(key)) is not None]
        if parts:
            return ", ".join(parts)
    gpu = logged.get("gpu_util")
    return f"GPU {sum(gpu) / len(gpu):.0f}%" if gpu else "-"


def test_metrics(folder: Path, config: dict, root: Path, max_images: int) -> tuple[float, float] | str:
    """(cycle-consistency L1, identity L1) of the latest generators on the test split, images in [-1, 1];
    or why there are none."""
    generators = [folder / "generators" / f"latest_net_{k}.pth" for k in ("G_A", "G_B")]
    if not all(p.is_file() for p in generators):
        return "no generators yet"
    # Here, not at the top: the rest of compare (tables, sample strips) runs without torch installed.
    import torch

    from .data import center_sample, open_splits
    from .models import load_generator
    try:
        splits = open_splits(config, root, ("testA", "testB"))
    except (UsageError, OSError, ValueError) as e:
        return f"no test split ({str(e).splitlines()[0][:160]})"
    if not {"testA", "testB"} <= set(splits):
        return "the dataset has no testA/testB"
    G_A, G_B = (load_generator(p).eval() for p in generators)
    crop = config["train"]["crop_size"]
    cycle, identity = [], []
    with torch.no_grad():
        for split, forward, backward in (("testA", G_A, G_B), ("testB", G_B, G_A)):
            images = splits[split]
            for i in range(min(len(images), max_images)):
                real = center_sample(images[i], crop).unsqueeze(0)
                cycle.append((backward(forward(real)) - real).abs().mean().item())
                identity.append((backward(real) - real).abs().mean().item())  # G_B(a) ~ a, G_A(b) ~ b
    return sum(cycle) / len(cycle), sum(identity) / len(identity)


def config(folder: Path) -> dict:
    """The variant's config.yaml as training saved it; {} when it is missing, unreadable or not a mapping."""
    try:
        found = safe_yaml.load(safe_yaml.read_text(folder / "config.yaml"), str(folder / "config.yaml"))
    except (safe_yaml.YAMLInputError, OSError):
        return {}
    return found if isinstance(found, dict) else {}


def rows(run: Path, root: Path, max_images: int, metrics: bool) -> tuple[list[str], list[dict], list[str]]:
    """(differing keys, one row per variant, notes)."""
    folders = variant_folders(run)
    if not folders:
        raise UsageError(f"{run} holds no variant folders (none has {RECORD} or config.yaml)",
                         "pass a sweep's run folder, /data/runs/<run>, once its pods have started")
    configs = {folder: config(folder) for folder in folders}
    flat = {f: flatten(c) for f, c in configs.items()}
    for folder in folders:  # a variant that failed before training has no config.yaml: its record says what it set
        flat[folder] = {**flat[folder], **(record(folder).get("set") or {})}
    keys = sorted({k for values in flat.values() for k in values} - {"run"})
    differing = [k for k in keys if len({value_text(flat[f][k]) for f in folders if k in flat[f]}) > 1]
    table, notes = [], []
    for folder in folders:
        recorded, logged = record(folder), scalars(folder / "tensorboard")
        steps = [int(m[1]) for p in (folder / "checkpoints").glob("step_*.pt") if (m := STEP_FILE.match(p.name))]
        row = {"variant": folder.name, **{k: value_text(flat[folder][k]) if k in flat[folder] else "-" for k in differing},
               "steps": str(max(steps, default=0)), "state": STATES.get(recorded.get("state"), "running" if steps else "-")}
        row.update({name: f"{logged[f'loss/{name}'][-1]:.4f}" if logged.get(f"loss/{name}") else "-" for name in LOSSES})
        measured = test_metrics(folder, configs[folder], root, max_images) if metrics and configs[folder] else "not measured"
        if isinstance(measured, str):
            row["cycle L1 (test)"] = row["identity L1 (test)"] = "-"
            notes.append(f"{folder.name}: test-split metrics: {measured}")
        else:
            row["cycle L1 (test)"], row["identity L1 (test)"] = (f"{v:.4f}" for v in measured)
        speed = logged.get("img_per_s")
        row["images/s"] = f"{sum(speed) / len(speed):.1f}" if speed else "-"
        row["utilisation"] = utilisation(folder, logged)
        if recorded.get("error"):
            notes.append(f"{folder.name}: {recorded['error']}")
        table.append(row)
    return differing, table, notes


def markdown(run: Path, table: list[dict], notes: list[str]) -> str:
    head = list(table[0])
    out = [f"# Sweep `{run.name}`: {len(table)} variants", "",
           "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    out += ["| " + " | ".join(str(row[k]).replace("|", "\\|") for k in head) + " |" for row in table]
    out += ["", "Losses are the last logged values; L1 is the mean absolute difference on test images scaled to "
            "[-1, 1] (cycle: A -> B -> A and B -> A -> B; identity: G_B(A) against A, G_A(B) against B).",
            "", "![samples](contact.png)", ""]
    return "\n".join(out + [f"- {n}" for n in notes] + ([""] if notes else []))


def sample(path: Path) -> Image.Image:
    """A sample grid scaled to TILE_WIDTH, its size checked from the PNG header before it is decoded."""
    fix = f"delete {path} (training writes a new sample) or pass another run folder"
    data = inputs.read_bytes(path, str(path), inputs.MAX_PNG_BYTES, fix)
    width, height = inputs.png_size(data, str(path), fix=fix)
    scaled = max(1, round(height * TILE_WIDTH / width))
    if scaled > MAX_TILE_HEIGHT:
        raise UsageError(f"{path} is {width} x {height} pixels: scaled to {TILE_WIDTH} wide it would be {scaled} high, "
                         f"more than {MAX_TILE_HEIGHT}", fix)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            return im.convert("RGB").resize((TILE_WIDTH, scaled), Image.NEAREST)
    except (OSError, ValueError, SyntaxError) as exc:
        raise UsageError(f"cannot decode {path} ({str(exc)[:120]})", fix) from None


def contact_sheet(run: Path, table: list[dict], differing: list[str]) -> Image.Image:
    """Each variant's latest sample grid, scaled to one width and labelled above with its name and keys."""
    font = ImageFont.load_default()
    line = font.getbbox("Ag")[3] + 4
    label_height = PAD + line * (1 + len(differing))
    tiles = []
    for row in table:
        samples = sorted((run / row["variant"] / "samples").glob("*.png"))
        image = None
        if samples:
            image = sample(samples[-1])
        tiles.append((row, image))
    image_height = max((im.height for _, im in tiles if im), default=TILE_WIDTH // 2)
    columns = min(len(tiles), COLUMNS_MAX)
    lines_of_tiles = math.ceil(len(tiles) / columns)
    cell_w, cell_h = TILE_WIDTH + PAD, label_height + image_height + PAD
    sheet = Image.new("RGB", (columns * cell_w + PAD, lines_of_tiles * cell_h + PAD), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (row, image) in enumerate(tiles):
        x, y = PAD + (n % columns) * cell_w, PAD + (n // columns) * cell_h
        for i, text in enumerate([row["variant"], *(f"{k} = {row[k]}" for k in differing)]):
            draw.text((x, y + i * line), text, fill="black", font=font)
        if image is None:
            draw.rectangle([x, y + label_height, x + TILE_WIDTH - 1, y + label_height + image_height - 1], fill=(200, 200, 200))
            draw.text((x + PAD, y + label_height + PAD), "no samples yet", fill="black", font=font)
        else:
            sheet.paste(image, (x, y + label_height))
    return sheet


def write_outputs(out: Path, run: Path, differing: list[str], table: list[dict], notes: list[str]) -> None:
    """compare.md, compare.csv and contact.png, all made before any is written, then written together."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    image = io.BytesIO()
    contact_sheet(run, table, differing).save(image, format="PNG")
    atomic.write_files(out, {"compare.md": markdown(run, table, notes).encode(), "compare.csv": buffer.getvalue().encode(),
                             "contact.png": image.getvalue()})


def main(argv=None) -> int:
    p = cli.Parser(prog="python -m trainer.compare", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="a sweep's run folder, e.g. /data/runs/myproject")
    p.add_argument("--out", type=Path, help="where compare.md, compare.csv and contact.png go (default: the run folder)")
    p.add_argument("--root", type=Path, help="the volume holding datasets/ (default: two levels above the run folder)")
    p.add_argument("--max-images", type=int, default=50, help="test images per direction for the L1 metrics (default 50)")
    p.add_argument("--no-metrics", action="store_true", help="skip the test-split metrics (no torch, no dataset)")
    args = p.parse_args(argv)
    return cli.run(lambda: compare(args))


def compare(args) -> int:
    if not args.run.is_dir():
        raise UsageError(f"{args.run} is not a folder", "pass a sweep's run folder, e.g. /data/runs/myproject")
    run = args.run.resolve()
    out = args.out or run
    if os.path.lexists(out) and not out.is_dir():  # said before the work, not as a full volume after it
        raise UsageError(f"--out {out} is not a folder", "pass a folder for --out (it is made when missing)")
    differing, table, notes = rows(run, args.root or run.parent.parent, max(1, args.max_images), not args.no_metrics)
    write_outputs(out, run, differing, table, notes)
    print(markdown(run, table, notes), end="")
    print(f"wrote {out / 'compare.md'}, {out / 'compare.csv'} and {out / 'contact.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
