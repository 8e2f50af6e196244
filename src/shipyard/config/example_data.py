"""The example project's sample data: loan applications, made the same way every time.

``shipyard init --example credit`` writes :data:`SAMPLE_ROWS` of them to
:data:`SAMPLE_FILE` so the README's tour runs with nothing downloaded; the demo
makes its batches with the same function. About 3% of the rows are broken in the
ways real exports are (a negative amount, a decimal comma, an impossible age, an
unknown country, a date in words), for validation to quarantine with its reasons.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

COUNTRIES = ["DE", "FR", "PL", "US"]
SAMPLE_FILE = "data/loans.csv"  # relative to the project folder
SAMPLE_ROWS = 2000
SAMPLE_SEED = 7


def write_loans_batch(path: Path, *, rows: int, seed: int, first_id: int = 1) -> int:
    """Write ``rows`` loan applications to a CSV, about 3% of them broken; return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        return write_loans(out, rows=rows, seed=seed, first_id=first_id)


def write_loans(out: TextIO, *, rows: int, seed: int, first_id: int = 1) -> int:
    """Write ``rows`` loan applications as CSV to ``out``; return how many are broken."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    broken = 0
    writer = csv.writer(out)
    writer.writerow(["loan_id", "amount", "age", "country", "applied_at", "defaulted"])
    for loan_id in range(first_id, first_id + rows):
        amount = round(rng.lognormvariate(9, 0.8), 2)
        age = rng.randint(18, 90)
        country = rng.choice(COUNTRIES)
        applied = (start + timedelta(minutes=7 * loan_id)).isoformat()
        risk = 0.05 + 0.45 * (amount > 20000) + 0.3 * (age < 25) + 0.1 * (country == "PL")
        defaulted = rng.random() < risk
        row: list[Any] = [loan_id, amount, age, country, applied, str(defaulted).lower()]
        if rng.random() < 0.03:
            broken += 1
            flaw = rng.randrange(5)
            if flaw == 0:
                row[1] = -amount  # negative amount: below min 0
            elif flaw == 1:
                row[1] = f"{amount:.2f}".replace(".", ",")  # decimal comma: not a number
            elif flaw == 2:
                row[2] = rng.choice([7, 150])  # age outside 18..120
            elif flaw == 3:
                row[3] = rng.choice(["XX", "de", ""])  # unknown or missing country
            else:
                row[4] = "yesterday"  # not a datetime
        writer.writerow(row)
    return broken
