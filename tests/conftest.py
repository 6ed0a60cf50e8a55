"""Shared pytest configuration: every test must carry exactly one tier marker."""

from __future__ import annotations

import pytest

TIERS = ("unit", "infra", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tiers = [t for t in TIERS if item.get_closest_marker(t)]
        if len(tiers) != 1:
            raise pytest.UsageError(
                f"{item.nodeid}: needs exactly one tier marker of {TIERS} (found {tiers or 'none'})"
            )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Figures the tests measured (tests.helpers.report), e.g. bring-up and no-op re-run times."""
    from tests.helpers import MEASURED

    if MEASURED:
        terminalreporter.section("measured")
        for line in MEASURED:
            terminalreporter.write_line(line)
