"""Stands in for a person answering the queue model: run as a separate process.

    python -m tests.agents.models.queue_answerer DIR COUNT [--slow-writer]

Answers COUNT prompt files in DIR, then exits (or gives up after 30 s). The reply names
the task and echoes the prompt's last message, so the test can tell which prompt got
which answer. `--slow-writer` writes each reply in two parts with a pause of 0.5 s between them,
not atomically, the way a careless script or an editor would.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    folder, count = Path(sys.argv[1]), int(sys.argv[2])
    slow = "--slow-writer" in sys.argv
    answered: set[str] = set()
    deadline = time.monotonic() + 30
    while len(answered) < count and time.monotonic() < deadline:
        for prompt in sorted(folder.glob("*.prompt.json")):
            payload = json.loads(prompt.read_text())
            if payload["id"] in answered:
                continue
            body = (
                f"Answer for {payload['task']}:\n```python\n"
                f"# {payload['messages'][-1]['content']}\n"
                "from dsl import step\n\n\ndef kernel(x, **params):\n    return x\n```\n"
            )
            target = folder / payload["reply_to"][0]
            if slow:
                with target.open("w") as handle:
                    handle.write(body[:10])
                    handle.flush()
                    time.sleep(0.5)
                    handle.write(body[10:])
            else:
                partial = folder / f"{payload['id']}.partial"
                partial.write_text(body)
                partial.replace(target)
            answered.add(payload["id"])
        time.sleep(0.05)


if __name__ == "__main__":
    main()
