"""SAM suite: sparse tensor kernels and fused sparse models (FuseFlow's benchmarks)."""
