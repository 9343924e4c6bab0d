"""Data: shard folders, SynthSign (the embedded synthetic dataset), manifests and the DataModules."""


def __getattr__(name: str):  # lazy: the DataModules import Lightning
    if name == "ClipFeatureDataModule":
        from signmusketeers.data.features import ClipFeatureDataModule

        return ClipFeatureDataModule
    raise AttributeError(f"module 'signmusketeers.data' has no attribute {name!r}")
