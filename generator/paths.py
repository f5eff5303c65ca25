"""Where the repository's data lives: bases, overlays, schemas, the NRP policy file, the tools folder."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "base"
OVERLAYS = REPO / "overlays"
SCHEMAS = REPO / "schemas"
POLICY = SCHEMAS / "policy.yaml"
TOOLS_BIN = REPO / ".tools" / "bin"
