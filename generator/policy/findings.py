"""Findings (rule id, object, message) and the three ways `nautilus validate` prints them."""
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, order=True)
class Finding:
    source: str          # overlay folder, YAML file or `-`
    kind: str
    name: str
    rule: str
    severity: str        # error | warning | info (advice: printed, never counted)
    message: str
    file: str = field(default="", compare=False)  # what a GitHub annotation points at

    @property
    def object(self) -> str:
        return f"{self.kind}/{self.name}" if self.name else self.kind


@dataclass(frozen=True, order=True)
class Waiver:
    source: str
    kind: str
    name: str
    rule: str
    reason: str


@dataclass
class Result:
    findings: list[Finding]
    waivers: list[Waiver]
    sources: list[str]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def summary(self) -> str:
        return (f"{len(self.errors)} error(s), {len(self.warnings)} warning(s), {len(self.waivers)} waived "
                f"in {len(self.sources)} source(s)")


def as_text(result: Result) -> str:
    lines = []
    for f in result.findings:
        prefix = {"warning": "warning: ", "info": "note: "}.get(f.severity, "")
        lines.append(f"{f.source}: {f.object}: {f.rule}: {prefix}{f.message}")
    for w in result.waivers:
        lines.append(f"{w.source}: {w.kind}/{w.name}: {w.rule}: waived: {w.reason}")
    return "\n".join(lines)


def as_json(result: Result) -> str:
    return json.dumps({
        "findings": [asdict(f) for f in result.findings],
        "waivers": [asdict(w) for w in result.waivers],
        "summary": {"errors": len(result.errors), "warnings": len(result.warnings),
                    "waived": len(result.waivers), "sources": result.sources},
    }, indent=2)


def _escape(text: str, property_value: bool = False) -> str:
    # GitHub workflow-command escaping; property values also escape ':' and ','.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


GITHUB_LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def as_github(result: Result) -> str:
    """Workflow commands: one ::error / ::warning annotation per finding, ::notice per waiver."""
    lines = []
    for f in result.findings:
        where = f"file={_escape(f.file, True)}," if f.file else ""
        lines.append(f"::{GITHUB_LEVELS[f.severity]} {where}title={_escape(f.rule, True)}::{_escape(f'{f.object}: {f.message}')}")
    for w in result.waivers:
        lines.append(f"::notice title={_escape('waived ' + w.rule, True)}::{_escape(f'{w.kind}/{w.name}: {w.reason}')}")
    return "\n".join(lines)


FORMATS = {"text": as_text, "json": as_json, "github": as_github}
