"""Labelled video frames (`video:<file>` + a labels CSV), NoScope-style data for specialised CNNs.

The CSV has the header `frame,label` and one row per frame of the video,
frames 0..N-1 in any order, labels non-negative ints (classes = max label + 1).
Frames are decoded with cv2, converted BGR -> RGB, resized to `image_size`
squared (None keeps the frame size) and scaled to [0, 1] (not standardised).
The first `TRAIN_FRACTION` of the frames is the train split, the rest the test
split. Relative paths are taken under `data_dir` when one is given; without
`labels` the CSV beside the video (same name, `.csv`) is used.
"""
from __future__ import annotations

import csv
import math
import os

import cv2
import numpy as np
import tensorflow as tf

from tfcompress.data import augment
from tfcompress.data.images import output_channels, to_unit
from tfcompress.data.source import DatasetInfo, Request, Source

TRAIN_FRACTION = 0.8
HEADER = ["frame", "label"]


def _paths(request: Request) -> tuple[str, str]:
    video = request.path(request.target)
    labels = request.path(request.labels) if request.labels else os.path.splitext(video)[0] + ".csv"
    for path, what in ((video, "video file"), (labels, "labels CSV (header frame,label)")):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"dataset {request.name!r}: {what} {path!r} not found")
    return video, labels


def _labels(path: str) -> np.ndarray:
    """Labels indexed by frame, checked to cover frames 0..N-1 exactly once."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [field.strip().lower() for field in rows[0]] if rows else []
    if header != HEADER:
        raise ValueError(f"{path}: header {rows[0] if rows else 'missing'}; expected {','.join(HEADER)}")
    labels = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            frame, label = (int(field) for field in row)
        except ValueError:
            raise ValueError(f"{path}, line {number}: {row}; expected two non-negative ints "
                             "frame,label") from None
        if frame < 0 or label < 0:
            raise ValueError(f"{path}, line {number}: {row}; expected non-negative frame and label")
        if frame in labels:
            raise ValueError(f"{path}, line {number}: frame {frame} labelled twice")
        labels[frame] = label
    missing = sorted(set(range(len(labels))) - set(labels))
    if not labels or missing:
        raise ValueError(f"{path}: {len(labels)} labelled frames but frames {missing[:5]} are missing; "
                         "expected one row for every frame 0..N-1")
    return np.array([labels[frame] for frame in range(len(labels))], dtype=np.int32)


def _checked(request: Request) -> tuple[str, np.ndarray, tuple[int, int]]:
    """(video path, labels by frame, frame (height, width)) once the video and the CSV agree."""
    video, labels_path = _paths(request)
    labels = _labels(labels_path)
    capture = cv2.VideoCapture(video)
    try:
        if not capture.isOpened():
            raise ValueError(f"dataset {request.name!r}: cv2 cannot decode {video!r}; expected a video file")
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        size = (int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)))
    finally:
        capture.release()
    if frames != len(labels):
        raise ValueError(f"dataset {request.name!r}: {video!r} has {frames} frames but the labels CSV "
                         f"{labels_path!r} labels {len(labels)}; expected one label per frame")
    output_channels(request.name, 3, request.channels)  # RGB frames: only None or 3
    return video, labels, size


def _split_range(request: Request, split: str, num_frames: int) -> range:
    cut = int(num_frames * TRAIN_FRACTION)
    frames = range(0, cut) if split == "train" else range(cut, num_frames)
    if not frames:
        raise ValueError(f"dataset {request.name!r}: {num_frames} frames leave the {split} split empty; "
                         f"expected a video of at least {math.ceil(1 / TRAIN_FRACTION)} frames")
    return frames


def describe(request: Request) -> DatasetInfo:
    """Frame shape, classes and split sizes from the CSV and the video header (no decoding)."""
    _, labels, (height, width) = _checked(request)
    if request.image_size:
        height = width = request.image_size
    train, test = (_split_range(request, split, len(labels)) for split in ("train", "test"))
    return DatasetInfo(request.name, (height, width, 3), int(labels.max()) + 1, len(train), len(test))


def _frames(request: Request, video: str, num_labels: int, wanted: range) -> np.ndarray:
    """RGB uint8 frames `wanted` of the video, resized as requested."""
    capture = cv2.VideoCapture(video)
    frames = []
    try:
        for index in range(wanted.stop):
            if index < wanted.start:  # before the split: advance without converting
                ok, frame = capture.grab(), None
            else:
                ok, frame = capture.read()
            if not ok:
                raise ValueError(f"dataset {request.name!r}: {video!r} ended after {index} decoded frames; "
                                 f"its header and the labels CSV promise {num_labels}")
            if frame is not None:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                if request.image_size:
                    # cv2 per frame (area interpolation) keeps memory at the resized size.
                    frame = cv2.resize(frame, (request.image_size,) * 2, interpolation=cv2.INTER_AREA)
                frames.append(frame)
    finally:
        capture.release()
    return np.stack(frames)


def read(request: Request, split: str) -> Source:
    """One split of the frames, decoded into memory."""
    video, labels, _ = _checked(request)
    wanted = _split_range(request, split, len(labels))
    frames = _frames(request, video, len(labels), wanted)
    examples = tf.data.Dataset.from_tensor_slices((frames, labels[wanted.start:wanted.stop]))
    examples = examples.map(lambda x, y: (to_unit(x, 255.0), y), num_parallel_calls=tf.data.AUTOTUNE)
    return Source(examples, len(wanted), augment=augment.small_shift(frames.shape[1]))
