"""Input generators of the new STeP tasks: the STeP suite's, under the names the tasks use."""

from benchmarks.step.generators import (  # noqa: F401  (named by the task files)
    azure_kv_lengths,
    mixtral_routing,
    random_routing,
)
