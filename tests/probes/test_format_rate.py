"""Transfer rates in reasons read as people write them (issue 14, item 8: "blob 0.0 MB/s")."""

from __future__ import annotations

import pytest

from probes.base import format_rate


@pytest.mark.parametrize(("rate", "text"), [
    (0, "0 B/s"), (56, "56 B/s"), (999, "999 B/s"), (1000, "1 kB/s"), (40_500, "40.5 kB/s"),
    (48_213.7, "48.2 kB/s"), (2_314_567, "2.31 MB/s"), (12_345_678_901, "12.3 GB/s"),
])
def test_rates_take_the_unit_that_keeps_three_digits(rate, text):
    assert format_rate(rate) == text
