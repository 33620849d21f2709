"""Programs that reproduce the STeP paper's experiments on its traces."""
