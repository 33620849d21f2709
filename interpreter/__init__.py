"""Trusted side: dialect semantics, cycle simulators, hardware targets and the verifier."""
