"""LLM agents that write, repair, optimise and remember dialect programs; the `agent` CLI."""
