"""`hitpred serve` is registered and documents its options."""

from __future__ import annotations

from click.testing import CliRunner

from hitpred.cli import main


def test_serve_help() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--insights-data", "--no-live"):
        assert option in result.output
