"""The on-disk formats of the project, defined once: the records of clip, crop and feature shards
(:mod:`signmusketeers.formats.records`) and the encoder files that ``export`` writes
(:mod:`signmusketeers.formats.encoder_file`). ``docs/formats.md`` describes every file the project writes."""

from signmusketeers.lazy import lazy_exports

_LAZY = {
    "EncoderError": "signmusketeers.formats.encoder_file",
    "EncoderSpec": "signmusketeers.formats.encoder_file",
    "encoder_paths": "signmusketeers.formats.encoder_file",
    "file_sha256": "signmusketeers.formats.encoder_file",
    "read_encoder_file": "signmusketeers.formats.encoder_file",
    "write_encoder_file": "signmusketeers.formats.encoder_file",
    "CLIP_RECORDS": "signmusketeers.formats.records",
    "RecordError": "signmusketeers.formats.records",
    "SIDES": "signmusketeers.formats.records",
    "check_clip_record": "signmusketeers.formats.records",
    "check_crop_record": "signmusketeers.formats.records",
    "check_feature_record": "signmusketeers.formats.records",
    "clip_record": "signmusketeers.formats.records",
    "clip_record_kind": "signmusketeers.formats.records",
    "crop_record": "signmusketeers.formats.records",
    "decode_jpeg": "signmusketeers.formats.records",
    "encode_jpeg": "signmusketeers.formats.records",
    "feature_record": "signmusketeers.formats.records",
    "pack_jpegs": "signmusketeers.formats.records",
    "unpack_clip_crops": "signmusketeers.formats.records",
    "unpack_jpegs": "signmusketeers.formats.records",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
__all__ = sorted(_LAZY)
