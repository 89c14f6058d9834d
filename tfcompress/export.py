"""Export a Keras model for serving: a SavedModel (with the custom op, or portable without it) or
a TFLite flatbuffer (float, dynamic-range, float16 or full-integer int8), written atomically.

`save(model, path, format="tflite", quantize="int8", representative_data=x)` is the one entry
point; `tflite_predict` runs an exported file in `tf.lite.Interpreter` the way a deployment would.

TFLite notes:
- The converter always traces the *portable* path (`pure_tf_path`): SpectralConv layers switch
  to `implementation="tf"`, so the flatbuffer holds no tfcompress op.
- Spectral layers compute rfft2d / complex products / irfft2d, which TFLite's builtins lack
  (and the Flex delegate for select TF ops is not linked into `tf.lite.Interpreter` of the
  `tensorflow` 2.21 wheel). For TFLite every SpectralConv1D/2D is therefore traced on a
  real-valued path (`spectral.real_dft.real_spectral_conv`): the same band-limited convolution as separable real
  DFTs (matmuls with cos/sin tables), a gather of the kept coefficients, one batched real matmul
  for the complex product and the inverse real DFT read at the output positions only, so the
  flatbuffer holds builtin ops only (FULLY_CONNECTED, BATCH_MATMUL, GATHER, TRANSPOSE) and
  matches the layer to float32 rounding. Only a layer with `preserve_energy` (a data-dependent
  band) keeps its TF ops and is converted with `SELECT_TF_OPS`: that file needs an interpreter
  built with the Flex delegate.
- `quantize="int8"` is full-integer quantization: weights *and* activations int8, input and
  output tensors int8 too (`inference_input_type`/`inference_output_type`), calibrated on
  `representative_data`. Feed it `round(x / scale + zero_point)` of the input's quantization
  parameters (`tflite_predict` does this and dequantizes the output).
- A model whose kernels are at least `SPARSE_THRESHOLD` zeros (pruned, sparse-trained, Hebbian)
  is converted with `Optimize.EXPERIMENTAL_SPARSITY` (or as `sparse=` says), which stores sparse
  weights in TFLite's sparse tensor format. Only float32 Dense kernels whose zeros come in 1x4
  blocks also *serve* faster (TFLite's sparse FULLY_CONNECTED kernel; `tfcompress.serving`);
  others are densified when the file loads, and a float export warns about them.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfcompress import serving
from tfcompress.sparse.stats import sparsity_of
from tfcompress.spectral.real_dft import real_spectral_path

FORMATS = ("saved_model", "tflite")
QUANTIZE = (None, "dynamic", "float16", "int8")
# Fraction of zero kernel weights from which the converter is asked to store sparse tensors.
SPARSE_THRESHOLD = 0.5
# Representative examples used to calibrate int8 activations (the first ones given).
CALIBRATION_EXAMPLES = 256


@contextlib.contextmanager
def pure_tf_path(model: keras.Model):
    """Switch every layer that has an `implementation` attribute to "tf" for the duration."""
    layers = [layer for layer in _all_layers(model) if hasattr(layer, "implementation")]
    saved = [layer.implementation for layer in layers]
    try:
        for layer in layers:
            layer.implementation = "tf"
        yield layers
    finally:
        for layer, value in zip(layers, saved):
            layer.implementation = value


def save(model: keras.Model, path: str, format: str = "saved_model", quantize: str | None = None,
         representative_data=None, portable: bool = False, sparse: bool | None = None) -> str:
    """Write `model` for serving at `path` and return the path written.

    Args:
      model: a built Keras model with one input (plain layers; strip pruning/sparse wrappers first).
      path: the SavedModel directory, or the `.tflite` file. Its parent directory is created; the
        result is written to a temporary name beside it and renamed, so a failed export leaves
        nothing behind (and an existing export at `path` untouched).
      format: "saved_model" (a `serving_default` signature `inputs` -> `outputs`) or "tflite".
      quantize: TFLite only. None (float32), "dynamic" (int8 weights, float activations),
        "float16" (float16 weights) or "int8" (full-integer; needs `representative_data`).
      representative_data: inputs for int8 calibration: an array (N, *input_shape) or a
        `tf.data.Dataset` of inputs or of (inputs, labels), batched or not.
      portable: SavedModel only (TFLite is always portable): trace custom-op layers on their
        pure-TF path, so stock TensorFlow loads the SavedModel without tfcompress.
      sparse: TFLite only: store sparse weights (`Optimize.EXPERIMENTAL_SPARSITY`). None: when
        the kernels are at least `SPARSE_THRESHOLD` zeros. The file serves faster only where the
        zeros form 1x4 blocks (`tfcompress.serving.block_pruning`) and the batch is small enough:
        README "Sparse serving".

    Raises:
      ValueError: unknown `format`/`quantize`, `quantize` with a SavedModel, int8 without
        `representative_data`, a model with other than one input, a `path` that cannot be
        written, or a model the TFLite converter rejects (its message included).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be one of {QUANTIZE}, got {quantize!r}")
    if format == "saved_model" and quantize is not None:
        raise ValueError(f"quantize={quantize!r} applies to format='tflite' only; a SavedModel "
                         "stores the float model")
    if sparse not in (None, True, False):
        raise ValueError(f"sparse must be None (automatic), True or False, got {sparse!r}")
    if format == "saved_model" and sparse is not None:
        raise ValueError(f"sparse={sparse!r} applies to format='tflite' only")
    if quantize == "int8" and representative_data is None:
        raise ValueError("quantize='int8' needs representative_data (an array or a tf.data.Dataset "
                         "of model inputs) to calibrate the activations")
    spec = _input_spec(model)
    path = os.fspath(path)
    parent = _writable_parent(path)
    if format == "saved_model":
        return _save_saved_model(model, path, parent, spec, portable)
    calibration = None if quantize != "int8" else _calibration_examples(representative_data, spec)
    flatbuffer = to_tflite(model, quantize, calibration, spec, sparse)
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a directory; a TFLite export is one file")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(flatbuffer)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return path


def to_tflite(model: keras.Model, quantize: str | None = None,
              calibration: np.ndarray | None = None, spec: tf.TensorSpec | None = None,
              sparse: bool | None = None) -> bytes:
    """The TFLite flatbuffer of `model` (see `save` for `quantize` and `sparse`; `calibration` is
    an array of int8 calibration inputs). Converted from the pure-TF path; select TF ops only
    when a spectral layer needs them; `EXPERIMENTAL_SPARSITY` when the kernels are mostly zeros.
    A sparse float32 file whose FULLY_CONNECTED weights will be densified at load gets a warning
    (they are not in 1x4 blocks, so they serve at dense speed)."""
    spec = spec or _input_spec(model)
    if sparse is None:
        sparse = kernel_sparsity(model) >= SPARSE_THRESHOLD
    # Batch 1 in the flatbuffer, resizable in the Interpreter: a fixed shape lets every op be a
    # builtin (XNNPACK delegates static shapes only).
    fixed = tf.TensorSpec([1, *spec.shape[1:]], tf.float32, name="inputs")
    with pure_tf_path(model), real_spectral_path(_all_layers(model)) as flex:
        @tf.function(input_signature=[fixed])
        def serve(inputs):
            return {"outputs": model(inputs, training=False)}

        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [serve.get_concrete_function()], model)
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if quantize == "int8"
               else tf.lite.OpsSet.TFLITE_BUILTINS]
        if flex:  # preserve_energy: a data-dependent band needs TF kernels (Flex delegate)
            ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter.target_spec.supported_ops = ops
        optimizations = []
        if quantize is not None:
            optimizations.append(tf.lite.Optimize.DEFAULT)
        if sparse:
            optimizations.append(tf.lite.Optimize.EXPERIMENTAL_SPARSITY)
        converter.optimizations = optimizations
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "int8":
            converter.representative_dataset = lambda: ([x[None]] for x in calibration)
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        try:
            flatbuffer = converter.convert()
        except Exception as error:  # the converter raises ConverterError and others
            raise ValueError(f"TFLite conversion of model {model.name!r} with quantize={quantize!r} "
                             f"failed: {error}") from error
    if sparse and quantize is None:
        densified = serving.fully_connected_weights(flatbuffer)["densified"]
        if densified:
            warnings.warn(f"{densified} sparse FULLY_CONNECTED weight(s) of model {model.name!r} "
                          "are not in 1x4 blocks: the file stores them sparse but TFLite densifies "
                          "them at load, so they serve at dense speed (prune in blocks to serve "
                          "faster: tfcompress.serving.block_pruning or block_prune)",
                          stacklevel=2)
    return flatbuffer


def tflite_predict(path_or_bytes: str | bytes, inputs: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """Outputs of the TFLite model at `path_or_bytes` on `inputs` (float), one example at a time
    in `tf.lite.Interpreter`, quantizing int8 inputs and dequantizing int8 outputs."""
    interpreter = tflite_interpreter(path_or_bytes, num_threads)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for x in np.asarray(inputs, np.float32):
        interpreter.set_tensor(inp["index"], quantize_input(x[None], inp))
        interpreter.invoke()
        results.append(dequantize_output(interpreter.get_tensor(out["index"]), out)[0])
    return np.stack(results)


def tflite_interpreter(path_or_bytes: str | bytes, num_threads: int = 1,
                       xnnpack: bool = True) -> tf.lite.Interpreter:
    """An allocated `tf.lite.Interpreter` of a TFLite file (path) or flatbuffer (bytes), with
    the default XNNPACK delegate or (`xnnpack=False`) TFLite's builtin kernels only."""
    source = ({"model_content": path_or_bytes} if isinstance(path_or_bytes, bytes)
              else {"model_path": os.fspath(path_or_bytes)})
    if not xnnpack:
        source["experimental_op_resolver_type"] = (
            tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated" (still the TF wheel's)
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(**source, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """`x` in the dtype of the input tensor `detail` (int8: x / scale + zero point, rounded)."""
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """Float values of the output tensor `y` described by `detail`."""
    if detail["dtype"] == np.float32:
        return y
    scale, zero = detail["quantization"]
    return (y.astype(np.float32) - zero) * scale


def kernel_sparsity(model: keras.Model) -> float:
    """Fraction of zeros over every `kernel` weight of the model's layers (0 without kernels)."""
    return sparsity_of(weight for layer in _all_layers(model) for weight in layer.weights
                       if weight.name.split("/")[-1].startswith("kernel") and weight.dtype.is_floating)


def _input_spec(model: keras.Model) -> tf.TensorSpec:
    if not model.inputs or len(model.inputs) != 1:
        raise ValueError(f"export needs a built model with one input; {model.name!r} has "
                         f"{len(model.inputs or [])} inputs")
    return tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name="inputs")


def _writable_parent(path: str) -> str:
    """The directory that will hold `path`, created if needed; ValueError if it cannot be written."""
    if not path:
        raise ValueError("export path is empty")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot write {path!r}: its directory {parent!r} cannot be created "
                         f"({error.strerror or error})") from error
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path!r}: directory {parent!r} is not writable")
    return parent


def _save_saved_model(model: keras.Model, path: str, parent: str, spec: tf.TensorSpec,
                      portable: bool) -> str:
    """The SavedModel (see `save`), written to a temporary directory beside `path`, then moved."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"path {path!r} is a file; a SavedModel is a directory")
    module = tf.Module()
    module.variables_ = model.variables
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    old = None
    try:
        with pure_tf_path(model) if portable else contextlib.nullcontext():
            @tf.function(input_signature=[spec])
            def serve(inputs):
                return {"outputs": model(inputs, training=False)}

            module.serve = serve
            concrete = serve.get_concrete_function()
            tf.saved_model.save(module, tmp, signatures={"serving_default": concrete})
        if os.path.isdir(path):  # replace an earlier export only once the new one is complete
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".old", dir=parent)
            os.replace(path, os.path.join(old, "model"))
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not os.path.exists(path):
            os.replace(os.path.join(old, "model"), path)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return path


def _calibration_examples(data, spec: tf.TensorSpec) -> np.ndarray:
    """Up to CALIBRATION_EXAMPLES single inputs (float32, the model's input shape) from `data`."""
    shape = tuple(spec.shape[1:])
    found: list[np.ndarray] = []
    for item in _iterate(data):
        if isinstance(item, (tuple, list)):  # (inputs, labels[, weights])
            item = item[0]
        if isinstance(item, dict):
            raise ValueError("representative_data yields dicts; give the model's inputs "
                             "(an array or a dataset of arrays or (inputs, labels))")
        x = np.asarray(item, np.float32)
        if x.shape == shape:
            x = x[None]
        if x.shape[1:] != shape:
            raise ValueError(f"representative_data has examples of shape {x.shape[1:]}; "
                             f"the model's input is {shape}")
        found.extend(x)
        if len(found) >= CALIBRATION_EXAMPLES:
            break
    if not found:
        raise ValueError("representative_data is empty; int8 calibration needs inputs")
    return np.stack(found[:CALIBRATION_EXAMPLES])


def _iterate(data) -> Iterator:
    if isinstance(data, tf.data.Dataset):
        return data.take(CALIBRATION_EXAMPLES).as_numpy_iterator()
    if isinstance(data, (np.ndarray, tf.Tensor)):
        return iter([np.asarray(data)])
    if isinstance(data, Iterable):
        return iter(data)
    raise ValueError(f"representative_data must be an array or a tf.data.Dataset of inputs, "
                     f"got {type(data).__name__}")


def _all_layers(model: keras.layers.Layer):
    """Every layer nested in `model`, wrappers' inner layers included."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)]


def load_run(run_dir: str) -> tuple[keras.Model, tf.data.Dataset]:
    """The model of a run directory and the inputs it was trained on (for int8 calibration).

    A run of `bin/train.py` is restored from its newest good checkpoint; a run of `bin/prune.py`
    is its dense model (the baseline it started from) with the pruned weights of its
    weights_csr.npz. Raises FileNotFoundError / training.CheckpointError naming what is missing.
    """
    import json

    from tfcompress import data as tfc_data
    from tfcompress import training
    from tfcompress.pruning import csr
    weights = os.path.join(run_dir, "weights_csr.npz")
    config_path = os.path.join(run_dir, "config.json")
    if os.path.exists(weights) and os.path.exists(config_path):  # a pruning run
        with open(config_path) as f:
            config = json.load(f)
        model, _ = training.load_run(config.get("checkpoint") or os.path.join(run_dir, "baseline"))
        csr.from_csr(weights, model)
    else:
        model, train_config = training.load_run(run_dir)
        config = vars(train_config)
    inputs = tfc_data.load(config["dataset"], "train", data_dir=config.get("data_dir"),
                           image_size=config.get("image_size"), labels=config.get("labels"),
                           channels=config.get("channels"), limit=config.get("limit"),
                           batch_size=64, shuffle=False)
    return model, inputs.map(lambda x, y: x)
