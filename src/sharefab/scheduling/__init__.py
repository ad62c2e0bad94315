"""The optimiser: problem model, insertion heuristic, CP-SAT model, LNS, readers (no I/O)."""
