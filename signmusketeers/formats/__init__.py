"""The on-disk formats of the project, defined once: the records of clip, crop and feature shards
(:mod:`signmusketeers.formats.records`) and the encoder files that ``export`` writes
(:mod:`signmusketeers.formats.encoder_file`). ``docs/formats.md`` describes every file the project writes."""

from signmusketeers.formats.encoder_file import (
    EncoderError,
    EncoderSpec,
    encoder_paths,
    file_sha256,
    read_encoder_file,
    write_encoder_file,
)
from signmusketeers.formats.records import (
    CLIP_RECORDS,
    SIDES,
    RecordError,
    check_clip_record,
    check_crop_record,
    check_feature_record,
    clip_record,
    clip_record_kind,
    crop_record,
    decode_jpeg,
    encode_jpeg,
    feature_record,
    pack_jpegs,
    unpack_clip_crops,
    unpack_jpegs,
)

__all__ = [
    "EncoderError",
    "EncoderSpec",
    "encoder_paths",
    "file_sha256",
    "read_encoder_file",
    "write_encoder_file",
    "CLIP_RECORDS",
    "SIDES",
    "RecordError",
    "check_clip_record",
    "check_crop_record",
    "check_feature_record",
    "clip_record",
    "clip_record_kind",
    "crop_record",
    "decode_jpeg",
    "encode_jpeg",
    "feature_record",
    "pack_jpegs",
    "unpack_clip_crops",
    "unpack_jpegs",
]
