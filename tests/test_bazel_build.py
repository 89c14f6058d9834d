"""The Bazel build of custom_ops/: configure step and the built op library.

The library tests skip when `make build` has not produced the library, unless
TFCOMPRESS_REQUIRE_OP=1 (CI), which turns the skip into a failure.
"""
import importlib.util
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tfcompress.spectral import op as spectral_op

ROOT = pathlib.Path(__file__).resolve().parent.parent
OP_NAME = "SpectralMul"


def _load_configure_tool():
    spec = importlib.util.spec_from_file_location(
        "configure_bazel", ROOT / "tools" / "configure_bazel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _built_library() -> pathlib.Path:
    """The first library the tfcompress loader would use; skips (or fails) if none."""
    for path in spectral_op.library_candidates():
        if path.is_file():
            return path
    reason = ("the op library was not built (run `make build`; searched "
              + ", ".join(map(str, spectral_op.library_candidates())) + ")")
    if os.environ.get("TFCOMPRESS_REQUIRE_OP") == "1":
        pytest.fail(reason + " and TFCOMPRESS_REQUIRE_OP=1")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def library():
    # The same path string as tfcompress's loader: TensorFlow then returns the same
    # module; loading a second copy of the file would register the kernel twice.
    return tf.load_op_library(str(_built_library()))


def test_library_registers_spectral_mul(library):
    assert hasattr(library, "spectral_mul"), f"{OP_NAME} is not registered by the library"
    graph = tf.function(library.spectral_mul).get_concrete_function(
        tf.TensorSpec([2, 3, 4], tf.complex64), tf.TensorSpec([5, 3, 4], tf.complex64)).graph
    assert OP_NAME in {operation.type for operation in graph.get_operations()}


def test_library_computes_spectral_mul(library):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2, 3, 7)) + 1j * rng.normal(size=(2, 3, 7))).astype(np.complex64)
    w = (rng.normal(size=(4, 3, 7)) + 1j * rng.normal(size=(4, 3, 7))).astype(np.complex64)
    expected = np.einsum("nck,fck->nfk", x, w.conj())
    np.testing.assert_allclose(library.spectral_mul(x, w).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_configure_points_at_installed_wheel(tmp_path, capsys):
    configure = _load_configure_tool()
    assert configure.main(["--workspace", str(tmp_path)]) == 0
    repo = tmp_path / "third_party" / "tensorflow_local"
    assert (repo / "include").resolve() == pathlib.Path(tf.sysconfig.get_include()).resolve()
    lib_dir, lib_name = tf.sysconfig.get_link_flags()[0][2:], tf.sysconfig.get_link_flags()[1][3:]
    assert (repo / lib_name).resolve() == (pathlib.Path(lib_dir) / lib_name).resolve()
    build_defs = {}
    exec((repo / "build_defs.bzl").read_text(), build_defs)  # Starlark here is plain Python
    flags = [f for f in tf.sysconfig.get_compile_flags() if not f.startswith("-I")]
    generated = ["-D" + d for d in build_defs["TF_DEFINES"]] + build_defs["TF_COPTS"]
    assert sorted(generated) == sorted(flags)
    assert (tmp_path / ".tf_configure.bazelrc").is_file()

    written = (repo / "build_defs.bzl").stat().st_mtime_ns
    capsys.readouterr()
    assert configure.main(["--workspace", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (repo / "build_defs.bzl").stat().st_mtime_ns == written


def test_configure_rejects_unexpected_link_flags():
    configure = _load_configure_tool()
    with pytest.raises(ValueError, match="-lfoo"):
        configure.framework_library(["-L/nowhere", "-lfoo"])
    with pytest.raises(FileNotFoundError, match="/nowhere/libtensorflow_framework.so.2"):
        configure.framework_library(["-L/nowhere", "-l:libtensorflow_framework.so.2"])
