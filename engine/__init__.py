"""Engine: facts, sources, the rule pack and the command line."""
