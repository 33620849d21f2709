"""Benchmark suites (one folder per dialect), the task-file format and its loader."""
