"""Reading a crop shard folder's part index: which record is a face crop and which a hand crop, without reading
records (the file itself, ``part_index.npz``, is defined in :mod:`signmusketeers.formats.records`).

A crop shard folder (written by ``signmusketeers parse --crops-out``) mixes face and hand crops. Its
``part_index.npz`` holds the part of every record by global index, keyed to the folder's ``index.json``;
:class:`~signmusketeers.data.shards.ShardWriter` writes it when it publishes a crop folder and the pre-training part
stream (:class:`signmusketeers.pretrain.datamodule.EndlessPartStream`) reads it to pick one part.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from signmusketeers.formats.records import PART_CODES, PART_INDEX, part_index_key, write_part_index

log = logging.getLogger(__name__)


def read_part_index(folder: str | Path) -> np.ndarray:
    """The part code (:data:`PART_CODES`) of every record of a crop folder, by global index, without reading the
    records: from ``part_index.npz`` when it matches the folder's ``index.json``. A folder without one (written
    by other tools or older versions) is read once, records' ``part`` field only, and the index is saved beside it
    when the folder is local and writable."""
    local = Path(folder)
    if local.is_dir() and (local / PART_INDEX).exists():
        with np.load(local / PART_INDEX) as saved:
            if str(saved["index_key"][0]) == part_index_key(local):
                return saved["parts"]
    from litdata import StreamingDataset

    log.warning("%s: no part index for this folder yet; reading every record's part once", folder)
    dataset = StreamingDataset(str(local.resolve()) if local.is_dir() else str(folder), shuffle=False)
    parts = np.fromiter(
        (PART_CODES.get(str(dataset[i]["part"]), 255) for i in range(len(dataset))), np.uint8, count=len(dataset)
    )
    if not local.is_dir():  # object storage: kept in memory for this run
        return parts
    folder = local
    try:
        write_part_index(folder, parts)
    except OSError as error:  # a read-only folder: the next run reads the parts again
        log.warning("%s: could not save %s (%s)", folder, PART_INDEX, error)
    return parts
