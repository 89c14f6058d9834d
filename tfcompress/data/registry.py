"""Dataset names: parsing, validation of the options each kind accepts, dispatch to the readers."""
from __future__ import annotations

import difflib

from tfcompress.data import digits, idx, tfds_sets, ucr, video
from tfcompress.data.images import check_image_size
from tfcompress.data.source import DatasetInfo, Request, Source

DEFAULT = "digits"
PREFIXED = {"ucr": "ucr:<Name>", "uea": "uea:<Name>", "video": "video:<path>"}
NAMES = (DEFAULT, *tfds_sets.SETS, *PREFIXED.values())
_READERS = {"digits": digits, "idx": idx, "tfds": tfds_sets, "ucr": ucr, "uea": ucr, "video": video}


def _unknown(name: object) -> ValueError:
    known = [DEFAULT, *tfds_sets.SETS, *PREFIXED]
    head = str(name).split(":", 1)[0].lower()
    close = difflib.get_close_matches(head, known, n=1)
    hint = f" Did you mean {PREFIXED.get(close[0], close[0])!r}?" if close else ""
    return ValueError(f"unknown dataset {name!r}; expected one of {', '.join(NAMES)}.{hint}")


def request(name: str, data_dir: str | None = None, image_size: int | None = None,
            channels: int | None = None, labels: str | None = None) -> Request:
    """Parse `name` and check that the options suit its kind."""
    if not isinstance(name, str):
        raise _unknown(name)
    prefix, colon, target = name.partition(":")
    if colon:
        if prefix not in PREFIXED:
            raise _unknown(name)
        if not target:
            raise ValueError(f"dataset {name!r} names no {prefix} set; expected {PREFIXED[prefix]!r}")
        kind = prefix
    elif name == DEFAULT:
        kind = "digits"
    elif name in idx.SETS and idx.available(name, data_dir):
        kind = "idx"
    elif name in tfds_sets.SETS:
        kind = "tfds"
    else:
        raise _unknown(name)
    if labels is not None and kind != "video":
        raise ValueError(f"labels={labels!r} given for dataset {name!r}; labels CSVs belong to video:<path> sets")
    if kind in ("ucr", "uea") and (image_size is not None or channels is not None):
        raise ValueError(f"image_size={image_size!r}, channels={channels!r} given for the time-series dataset "
                         f"{name!r}; expected None for both")
    return Request(name, kind, target or name, data_dir, check_image_size(image_size), channels, labels)


def describe(req: Request) -> DatasetInfo:
    """The `DatasetInfo` of a parsed request."""
    return _READERS[req.kind].describe(req)


def source(req: Request, split: str, augment: bool, shuffle_files: bool = False, seed: int = 0) -> Source:
    """One split of a parsed request; `shuffle_files` and `seed` order tfds' files (other kinds sit in memory)."""
    if req.kind == "tfds":
        found = tfds_sets.read(req, split, shuffle_files, seed)
    else:
        found = _READERS[req.kind].read(req, split)
    if augment and found.augment is None:
        raise ValueError(f"augment=True for dataset {req.name!r}, which has no standard augmentation; "
                         "expected augment=False")
    return found
