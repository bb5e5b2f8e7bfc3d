"""Time-based triggering only: deadlines and windows come from the domain tables (issue 5)."""
