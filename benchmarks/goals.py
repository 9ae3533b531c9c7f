"""The goals the benchmarks' figures stand beside (the team's performance issue), and whether each is
met. One place: ``benchmarks.linkage`` prints them under its table, ``python -m benchmarks`` in its
summary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Goal:
    text: str
    at_least: float | None = None
    at_most: float | None = None

    def met(self, figure: float | None) -> str:
        if figure is None:
            return "—"
        if self.at_least is not None and figure < self.at_least:
            return "no"
        if self.at_most is not None and figure > self.at_most:
            return "no"
        return "yes"


HUB_OVER_DIRECT = Goal("≥ 0.25 (then 0.5)", at_least=0.25)
CPU_PER_QUERY_MS = Goal("≤ 1 ms", at_most=1)
CPU_PER_NOTIFICATION_MS = Goal("≤ 0.5 ms", at_most=0.5)
ADDED_P50_MS = Goal("≤ 5 ms", at_most=5)
ADDED_P99_MS = Goal("≤ 20 ms", at_most=20)
ACCEPTED_PER_S = Goal("≥ 2,000/s (PostgreSQL)", at_least=2000)
DELIVERED_PER_S = Goal("≥ 1,000/s", at_least=1000)
BATCH_PER_S = Goal("≥ 20,000/s", at_least=20_000)
BATCH_RSS_MB = Goal("≤ 300 MB", at_most=300)
MY_NUMBER_P99_MS = Goal("≤ 2 ms", at_most=2)
EXACT_P99_MS = Goal("≤ 5 ms", at_most=5)
PARTIAL_P99_MS = Goal("≤ 20 ms", at_most=20)
HISTORY_P99_MS = Goal("≤ 20 ms", at_most=20)
PAGE_P99_MS = Goal("≤ 50 ms", at_most=50)
PURGE_MONTH_S = Goal("≤ 1 s", at_most=1)
CONSOLE_PAGE_P99_MS = Goal("< 1000 ms", at_most=1000)
