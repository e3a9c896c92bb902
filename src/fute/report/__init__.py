"""The HTML report: what the landscape of data sets, models and prompts looks like."""

from fute.report.page import write_report

__all__ = ["write_report"]
