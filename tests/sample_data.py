"""Small sample data shared by the data tests (importable: pythonpath includes tests/)."""

from __future__ import annotations

from pathlib import Path

PROJECT = """\
project: data-tests
datasets:
  people:
    key: id
    timestamp: seen_at
    target: churned
    columns:
      id: {type: int}
      name: {type: string, nullable: false, regex: '^[A-Z]'}
      age: {type: int, min: 0, max: 120}
      score: {type: float, min: 0, max: 1}
      country: {type: category, categories: [DE, FR, PL]}
      seen_at: {type: datetime}
      churned: {type: bool}
"""

HEADER = "id,name,age,score,country,seen_at,churned\n"
GOOD = [
    "1,Ann,34,0.5,DE,2026-01-01T10:00:00Z,false\n",
    "2,Bob,51,0.25,FR,2026-01-02T11:00:00+02:00,true\n",
    "3,Cem,,0.75,PL,2026-01-03,no\n",
]


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path
