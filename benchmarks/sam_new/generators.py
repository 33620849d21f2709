"""Input generators of the new SAM tasks: the SAM suite's, under the names the tasks use."""

from benchmarks.sam.generators import powerlaw_matrix  # noqa: F401  (named by the task files)
