"""Agent workflows as langgraph graphs: `solve` (one task: recall, propose, verify, repair,
optimise, record) and the run driver that takes a suite through it."""
