"""Data: shard folders, SynthSign (the embedded synthetic dataset), manifests and the DataModules."""
