"""The STeP task suite: task files, PyTorch references, input generators, baselines."""
