"""tfcompress.data on labelled video frames, from a short video the test writes with cv2."""
import cv2
import numpy as np
import pytest

from tfcompress import data

FRAMES, HEIGHT, WIDTH = 10, 24, 32


def _colour(index):
    """RGB of solid frame `index`: red encodes the frame, so order and BGR->RGB can be checked."""
    return np.array([20 * index + 10, 100, 200], np.float32)


def _write_video(path, fourcc):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (WIDTH, HEIGHT))
    assert writer.isOpened(), f"cv2 cannot write {fourcc} here"
    for index in range(FRAMES):
        rgb = np.broadcast_to(_colour(index), (HEIGHT, WIDTH, 3)).astype(np.uint8)
        writer.write(np.ascontiguousarray(rgb[..., ::-1]))  # cv2 writes BGR
    writer.release()


def _write_labels(path, rows, header="frame,label"):
    path.write_text("\n".join([header, *(f"{frame},{label}" for frame, label in rows)]) + "\n")


def _labels(index):
    return index % 3


@pytest.fixture(params=[("mp4v", ".mp4"), ("MJPG", ".avi")], ids=["mp4v", "mjpg"])
def clip(tmp_path, request):
    fourcc, suffix = request.param
    video = tmp_path / f"street{suffix}"
    _write_video(video, fourcc)
    order = np.random.default_rng(0).permutation(FRAMES)  # rows in any order
    _write_labels(tmp_path / "street.csv", [(int(i), _labels(int(i))) for i in order])
    return video


def _all(name, split, **kwargs):
    (x, y), = data.load(name, split, batch_size=FRAMES, shuffle=False, **kwargs)
    return x.numpy(), y.numpy()


def test_frames_are_rgb_in_order_and_split_by_index(clip):
    name = f"video:{clip}"
    assert data.describe(name) == data.DatasetInfo(name, (HEIGHT, WIDTH, 3), 3, 8, 2)
    for split, frames in (("train", range(0, 8)), ("test", range(8, 10))):
        x, y = _all(name, split)
        assert x.dtype == np.float32 and y.dtype == np.int32 and x.shape == (len(frames), HEIGHT, WIDTH, 3)
        expected = np.stack([_colour(i) for i in frames]) / 255.0
        np.testing.assert_allclose(x.mean(axis=(1, 2)), expected, atol=6 / 255)
        np.testing.assert_array_equal(y, [_labels(i) for i in frames])


def test_frames_resize_and_paths_resolve_under_data_dir(clip):
    name = f"video:{clip.name}"
    info = data.describe(name, data_dir=str(clip.parent), image_size=16, labels="street.csv")
    assert info.input_shape == (16, 16, 3)
    x, _ = _all(name, "test", data_dir=str(clip.parent), image_size=16)
    assert x.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(x[1].mean(axis=(0, 1)), _colour(9) / 255.0, atol=6 / 255)


def test_augmentation_translates_frames_without_changing_labels(clip):
    x, y = _all(f"video:{clip}", "train", augment=True)
    plain, labels = _all(f"video:{clip}", "train")
    assert x.shape == plain.shape and x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(y, labels)
    assert (x == 0).all(axis=-1).any()  # zero padding shows at the borders of shifted frames


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.mp4"
    _write_video(path, "mp4v")
    return path


@pytest.mark.parametrize("rows, header, expected", [
    ([(i, 0) for i in range(FRAMES)], "index,class", r"header \['index', 'class'\]; expected frame,label"),
    ([(i, 0) for i in range(FRAMES - 1)], "frame,label", "has 10 frames but the labels CSV .*labels.csv. labels 9"),
    ([(i, 0) for i in range(FRAMES + 1)], "frame,label", "has 10 frames but the labels CSV .*labels.csv. labels 11"),
    ([(i, 0) for i in range(FRAMES) if i != 4] + [(12, 0)], "frame,label", r"frames \[4\] are missing"),
    ([(i, "car") for i in range(FRAMES)], "frame,label", r"line 2: \['0', 'car'\]"),
    ([(0, 0), (0, 1)], "frame,label", "frame 0 labelled twice"),
])
def test_bad_labels_are_named(video, rows, header, expected):
    labels = video.parent / "labels.csv"
    _write_labels(labels, rows, header)
    with pytest.raises(ValueError, match=expected):
        data.load(f"video:{video}", labels=str(labels))


def test_missing_files_are_named(video, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"labels CSV.*clip.csv"):
        data.describe(f"video:{video}")
    with pytest.raises(FileNotFoundError, match=r"video file.*nothere.mp4"):
        data.load(f"video:{tmp_path / 'nothere.mp4'}", labels=str(tmp_path / "x.csv"))
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    _write_labels(tmp_path / "notes.csv", [(0, 0)])
    with pytest.raises(ValueError, match="cv2 cannot decode.*notes.mp4"):
        data.load(f"video:{not_video}")
