"""Python-embedded accelerator languages (dialects) that agents write programs in.

Each dialect lives in its own subpackage (`dsl.step`, `dsl.sam`, `dsl.dae`). Everything
under `dsl/` must import cheaply and without numpy: it runs inside the sandbox on every
evaluation.
"""

DIALECTS = ("step", "sam", "dae")
