"""The trusted-side skeleton the three dialects share: the pass walker (`walker.py`) and
the bounded-channel event solver (`channels.py`)."""
