"""Many runs: an experiment over variants and seeds, here, in processes or on Ray."""
