"""`nautilus report` as Markdown: what the change does first, then each changed overlay's table, then the
unchanged overlays folded into a collapsed <details>; fitted under a size by leaving out whole sections.

What is left out when the report must fit, in this order: the per-workload tables of unchanged overlays
(one row per overlay instead), then those rows from the last, then the tables of changed overlays from the
last. The summary above them, with every changed workload, stays; a line says what was left out. Only a
summary too long on its own (thousands of changed workloads or findings) is shortened, to the first lines of
each list and a count of the rest. Text that comes from manifests (names, waiver reasons, messages) is
escaped and shortened: it is untrusted.
"""
from generator.core.examples import NOTE
from generator.review.inventory import COLUMNS, shown_columns

MIN_BYTES = 4000
LONGEST_TEXT = 300  # characters of one untrusted value (a waiver reason, a message) in the report


def cell(value, limit: int = LONGEST_TEXT) -> str:
    """A value from a manifest, safe inside a table cell or a list item: one line, no HTML, no pipes."""
    text = " ".join(str(value).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _row(values) -> str:
    return "| " + " | ".join(cell(v) for v in values) + " |"


def _table(head, rows) -> list[str]:
    return [_row(head), "|" + " --- |" * len(head), *(_row(r) for r in rows)]


def arrow(before: str | None, after: str | None) -> str:
    """One cell: the value, or `before → after` when it changed."""
    if before is None or before == after:
        return after if after is not None else before
    return before if after is None else f"{before} → {after}"


def _overlay(item: dict, compared: bool) -> list[str]:
    """One overlay: its table (a change column when compared), totals, finding counts and waivers."""
    lines = [f"### `{cell(item['source'])}`" + (f" ({item['change']})" if compared else ""), ""]
    table, columns = [], shown_columns(item["workloads"])
    for w in item["workloads"]:
        cells = [arrow((w["before"] or {}).get(k), (w["after"] or {}).get(k)) for k in columns]
        if w["change"] == "removed":
            cells = [f"~~{c}~~" for c in cells]
        table.append(([f"**{w['change']}**" if w["change"] != "same" else ""] if compared else []) + cells)
    lines += _table((["change"] if compared else []) + list(columns.values()), table)
    before = item["totals"]["before"] or {}
    lines += ["", "Totals: " + ", ".join(f"{k} {arrow(before.get(k), v)}" for k, v in item["totals"]["after"].items()) + "."]
    if item["findings"]:
        lines.append(f"Findings: {item['findings']['errors']} error(s), {item['findings']['warnings']} warning(s).")
    lines += [f"- waived `{cell(w['rule'])}` on {cell(w['kind'])}/{cell(w['name'])}: {cell(w['reason'])}"
              for w in item["waivers"]]
    return lines + [""]


def _cells(cells: dict) -> str:
    return "; ".join(f"{COLUMNS[k]} {arrow(before, after)}" for k, (before, after) in cells.items()) or "-"


def _more(items: list, shown: int | None) -> list[str]:
    left = len(items) - len(items[:shown])
    return [f"... and {left} more, in the full report.", ""] if left else [""]


def _findings(title: str, found: list[dict], shown: int | None) -> list[str]:
    return [f"**{title}** ({len(found)}):", ""] + [
        f"- `{cell(f['source'])}` {cell(f['kind'])}/{cell(f['name'])} `{cell(f['rule'])}` ({f['severity']}): "
        f"{cell(f['message'])}" for f in found[:shown]] + _more(found, shown) if found else []


def _waivers(title: str, found: list[dict], shown: int | None) -> list[str]:
    return [f"**{title}** ({len(found)}):", ""] + [
        f"- `{cell(w['source'])}` {cell(w['kind'])}/{cell(w['name'])} waives `{cell(w['rule'])}`: {cell(w['reason'])}"
        for w in found[:shown]] + _more(found, shown) if found else []


def _summary(data: dict, shown: int | None = None) -> list[str]:
    """What the change does, in the order a reviewer asks: totals, workloads, findings, waivers; shown: the
    most lines of each list (only when the summary alone would not fit)."""
    s, base = data["summary"], data["base"]
    counts = s["overlays"]
    if not (counts["changed"] or counts["new"] or counts["removed"]):
        return [f"This change touches nothing the cluster would see: the {counts['same']} overlay(s) render as at "
                f"`{cell(base)}`.", ""]
    said = {"changed": "changed", "new": "new", "removed": "removed", "same": "unchanged"}
    lines = [f"Compared with `{cell(base)}`, overlays: " + ", ".join(f"{n} {said[k]}" for k, n in counts.items() if n)
             + ".", ""]
    before = data["totals"]["before"]
    lines += _table(["total", "before", "after"], [[k, before[k], v] for k, v in data["totals"]["after"].items()]) + [""]
    lines += _examples_note(data)
    if s["workloads"]:
        lines += _table(["overlay", "change", "kind", "name", "what changes"],
                        [[w["source"], w["change"], w["kind"], w["name"], _cells(w["cells"])] for w in s["workloads"][:shown]])
        lines += _more(s["workloads"], shown)
    if s["manifests_only"]:
        lines += ["Manifests change but no request does: " + ", ".join(f"`{cell(x)}`" for x in s["manifests_only"][:shown])
                  + ".", *_more(s["manifests_only"], shown)]
    found, waived = s["findings"], s["waivers"]
    lines += _findings("New findings", found["new"], shown) + _findings("Fixed findings", found["fixed"], shown)
    if not (found["new"] or found["fixed"]):
        lines += ["No finding is new or fixed.", ""]
    lines += _waivers("Waivers added", waived["added"], shown) + _waivers("Waivers removed", waived["removed"], shown)
    return lines


def _folded(items: list[dict], full: bool, total: int) -> list[str]:
    """Unchanged overlays in a collapsed section: their tables, or one row of totals each."""
    if not items:
        return []
    lines = [f"<details><summary>{total} unchanged overlay(s)</summary>", ""]
    if full:
        for item in items:
            lines += _overlay(item, compared=False)
    else:
        keys = list(items[0]["totals"]["after"])
        lines += _table(["overlay", *keys, "errors", "warnings"],
                        [[i["source"], *i["totals"]["after"].values(), i["findings"]["errors"], i["findings"]["warnings"]]
                         for i in items]) + [""]
    return lines + ["</details>", ""]


def _span(labels: list[str]) -> str:
    return f"`{cell(labels[0])}`" + (f" to `{cell(labels[-1])}`" if len(labels) > 1 else "")


def _left_out(folded_tables: bool, rows_dropped: list[str], tables_dropped: list[str], compared: bool) -> list[str]:
    said = []
    if folded_tables:
        said.append("the per-workload tables of the unchanged overlays (one row each instead)")
    if rows_dropped:
        said.append(f"{len(rows_dropped)} unchanged overlay(s) entirely ({_span(rows_dropped)})")
    if tables_dropped:
        said.append(f"the tables of {len(tables_dropped)} {'changed ' if compared else ''}overlay(s) "
                    f"({_span(tables_dropped)}{'; their changes are listed above' if compared else ''})")
    return [f"> **Left out to fit a pull-request comment:** {'; '.join(said)}. The full report is in the job "
            "summary of this check's run and in its `nautilus-report` artifact.", ""] if said else []


def _examples_note(data: dict) -> list[str]:
    left_out = data.get("examples_left_out") or []
    return [f"Totals leave out the template's {len(left_out)} example overlay(s) ({', '.join(f'`{cell(x)}`' for x in left_out)}; "
            f"overlays/examples.yaml); {NOTE}.", ""] if left_out else []


def _footer(data: dict) -> list[str]:
    f = data["findings"]
    lines = [] if data["base"] else ["### All overlays", "", *_table(["total", "value"], data["totals"]["after"].items()), ""]
    lines += [] if data["base"] else _examples_note(data)  # with a base, the summary says it
    return lines + [f"Findings over all: {f['errors']} error(s), {f['warnings']} warning(s), {f['waived']} waived.", "",
                    f"<sub>{data['formula']}</sub>", ""]


def markdown(data: dict, max_bytes: int | None = None) -> str:
    """The report; with max_bytes, the largest form of it (see the module's docstring) within that many bytes.
    Without a base every overlay counts as changed: all tables, no summary."""
    compared = bool(data["base"])
    changed = [i for i in data["overlays"] if i["change"] != "same"]
    same = [i for i in data["overlays"] if i["change"] == "same"]
    tables = [_overlay(i, compared) for i in changed]
    footer = _footer(data)

    def body(full: bool, rows: int, kept: int, shown: int | None = None) -> str:
        note = _left_out(not full and rows > 0, [i["source"] for i in same[rows:]],
                         [i["source"] for i in changed[kept:]], compared)
        head = ["## Resource report", "", *(_summary(data, shown) if compared else [])]
        folded = _folded(same[:rows], full, len(same))
        return "\n".join(head + note + [line for t in tables[:kept] for line in t] + folded + footer)

    candidates = [(True, len(same), len(changed))]
    candidates += [(False, rows, len(changed)) for rows in range(len(same), -1, -1)] if same else []
    candidates += [(False, 0, kept) for kept in range(len(changed) - 1, -1, -1)]
    longest = max([len(data["summary"][k]) for k in ("workloads", "manifests_only")]
                  + [len(v) for part in ("findings", "waivers") for v in data["summary"][part].values()]) if compared else 0
    # Last, a summary too long on its own keeps the first lines of each of its lists and says how many more.
    candidates += [(False, 0, 0, shown) for shown in range(longest - 1, -1, -1)]
    # Each candidate leaves out more than the one before: the first that fits, found by bisection.
    texts = {}

    def fits(index: int) -> bool:
        texts[index] = texts.get(index) or body(*candidates[index])
        return max_bytes is None or len(texts[index].encode()) <= max_bytes

    low, high = 0, len(candidates) - 1
    if fits(low):
        return texts[low]
    if not fits(high):
        return texts[high]  # nothing fits (a limit below the summary's head): the smallest form
    while high - low > 1:  # low does not fit, high does
        middle = (low + high) // 2
        low, high = (low, middle) if fits(middle) else (middle, high)
    return texts[high]
