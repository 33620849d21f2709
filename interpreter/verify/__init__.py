"""The verifier's parts: the verdict, the comparison with the reference, the floors, the
time and memory budgets, the trusted check of an IR, and the baseline cache.

`interpreter.verifier` is the entry point (`verify`, `Verdict`, `baseline_cycles`); this
package holds what it is made of, one concern per module.
"""
