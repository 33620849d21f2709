"""The hack catalogue: adversarial programs against the reward, one per known hole, each
asserted to fail or to gain nothing (issue 9)."""
