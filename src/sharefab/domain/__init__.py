"""Pure domain rules: taxonomy, resources, calendars, orders, credit, money, ledger (no I/O)."""
