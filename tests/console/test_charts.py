"""How the usage charts write costs: cents for sums, and the tiny cost of a few requests never as $0.0000."""

from __future__ import annotations

from vaultgate.console.charts import money


def test_costs_are_written_as_people_read_them() -> None:
    assert [money(v) for v in (1234.5, 1.0, 0.25, 0.00000135, 0.0)] == [
        "$1,234.50",
        "$1.00",
        "$0.25",
        "$0.00000135",
        "$0",
    ]
