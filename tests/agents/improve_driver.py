"""`agent improve ARGS...` with the example learner as the model `learner[:delay]`: the
subprocess the kill-and-resume test kills (python -m tests.agents.improve_driver ARGS...)."""

from __future__ import annotations

import sys

import agents.models
from tests.agents.improve_models import learner_model


def main() -> None:
    real = agents.models.get_model
    agents.models.get_model = lambda spec: (
        learner_model(spec) if spec.startswith("learner") else real(spec)
    )
    from agents.cli import main as cli

    sys.argv = ["agent", "improve", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()
