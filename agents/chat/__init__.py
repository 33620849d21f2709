"""`agent chat`: write a kernel together with a tool-using agent in the terminal.

`agent.py` is the langgraph agent and its session store, `session.py` the workbench the tools
act on (the shared `agents.tools` layer, as `agent mcp` serves it), `protocol.py` how a
model calls tools in text, `terminal.py` the input line and rendering, `user_task.py` a task
from the user's own PyTorch function. `main` is what the CLI calls.
"""

from agents.chat.cli import main

__all__ = ["main"]
