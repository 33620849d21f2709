"""The dialect errors, under their historical import path.

They live in `dsl.core.errors` (one hierarchy for every dialect); this module keeps
`from dsl.errors import ProgramError` working for programs, prompts and tests.
"""

from dsl.core.errors import DialectError, NotCovered, ProgramError, RuleError, ValidationError

__all__ = ["DialectError", "NotCovered", "ProgramError", "RuleError", "ValidationError"]
