"""The statistics stage: from an experiment's run folders to its statistics files, computed once."""
