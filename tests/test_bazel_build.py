"""The Bazel build of custom_ops/: configure step, the built op library, and
the CUDA parts that need no GPU (nvcc choice, GPU targets, the kernel run by
the CPU emulation of custom_ops/spectral/bench/).

The library tests skip when `make build` has not produced the library, unless
TFCOMPRESS_REQUIRE_OP=1 (CI), which turns the skip into a failure.
"""
import importlib.util
import os
import pathlib
import shutil
import subprocess

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


def _fake_nvcc(directory: pathlib.Path, release: str) -> pathlib.Path:
    """An executable named nvcc whose --version reports CUDA `release`."""
    directory.mkdir(parents=True)
    nvcc = directory / "nvcc"
    nvcc.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.1'\n")
    nvcc.chmod(0o755)
    return nvcc


def _find_nvcc(env_update) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("NVCC", "CUDA_HOME")}
    env.update(env_update)
    return subprocess.run(["bash", str(ROOT / "tools" / "find_nvcc.sh")], env=env,
                          capture_output=True, text=True, check=False)


def test_find_nvcc_prefers_cuda12_over_a_newer_nvcc_on_path(tmp_path):
    nvcc13 = _fake_nvcc(tmp_path / "cuda13" / "bin", "13.0")
    nvcc12 = _fake_nvcc(tmp_path / "cuda12" / "bin", "12.5")
    path = f"{nvcc13.parent}:/usr/bin:/bin"
    found = _find_nvcc({"PATH": path, "CUDA_HOME": str(nvcc12.parent.parent)})
    assert found.returncode == 0 and found.stdout.strip() == str(nvcc12)

    # Only CUDA 13 (unless the machine has /usr/local/cuda-12*): used, with a note.
    only13 = _find_nvcc({"PATH": path})
    assert only13.returncode == 0
    if not list(pathlib.Path("/usr/local").glob("cuda-12*/bin/nvcc")):
        assert only13.stdout.strip() == str(nvcc13)
        assert "no CUDA 12 nvcc found" in only13.stderr and "CUDA 13.0" in only13.stderr


def test_find_nvcc_rejects_a_missing_nvcc(tmp_path):
    found = _find_nvcc({"NVCC": str(tmp_path / "no-nvcc")})
    assert found.returncode == 1 and "no-nvcc is not an executable" in found.stderr


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_check_cuda_archs_rejects_a_binary_without_sm90(tmp_path):
    source = tmp_path / "k.cu"
    source.write_text("__global__ void k(float* x) { x[threadIdx.x] = 1.0f; }\n")
    compiled = subprocess.run(["nvcc", "-c", "-gencode=arch=compute_80,code=sm_80", str(source),
                               "-o", str(tmp_path / "k.o")], capture_output=True, text=True,
                              check=False)
    assert compiled.returncode == 0, compiled.stderr
    checked = subprocess.run(["bash", str(ROOT / "tools" / "check_cuda_archs.sh"),
                              str(tmp_path / "k.o")], capture_output=True, text=True, check=False)
    assert checked.returncode == 1
    assert "sm_80.cubin" in checked.stdout and "lacks sm_90.cubin" in checked.stderr


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_cuda_harness_compiles_with_nvcc(tmp_path):
    # The GPU harness (spectral_mul_bench.cu: checks, cuBLAS comparison, planar timings) for
    # sm_80, sm_90 and PTX; linking needs cuBLAS, running a GPU, so only the object is built.
    target = tmp_path / "spectral_mul_bench.o"
    result = subprocess.run(["make", "-s", "-C", str(ROOT / "custom_ops" / "spectral" / "bench"),
                             f"BUILD={tmp_path}", str(target)],
                            capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert target.stat().st_size > 0


@pytest.mark.skipif(shutil.which("c++") is None, reason="needs a C++ compiler")
def test_cuda_kernel_emulated_on_cpu(tmp_path):
    # The kernels' own code on the CPU: SpectralMul's 16 attribute combinations on both
    # configurations, multi-block and split grids, and SpectralMulPlanar's three modes on
    # the box and on a band, NaN-filled outputs.
    result = subprocess.run(["make", "-s", "-C", str(ROOT / "custom_ops" / "spectral" / "bench"),
                             "emulate", f"BUILD={tmp_path}", "CXX=c++"],
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    assert result.stdout.count("unwritten 0") == 2 * 2 * 16 + 3 + 7
    assert "band larger than band_size: forward NaN floats 3330 (expected 3330)" in result.stdout
