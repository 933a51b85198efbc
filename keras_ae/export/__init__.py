"""Deployment: SavedModels for TF Serving and TensorFlow Lite (LiteRT) models.

A trained autoencoder leaves Keras in two forms:

- `export_saved_model` writes a SavedModel in TF Serving's versioned layout,
  `<base_dir>/<name>/<version>/`, with three named signatures:

      serving_default  inputs (batch, *input_shape) -> reconstruction
      encode           inputs -> z (AE), or z_mean and z_log_var (VAE),
                       each (batch, *code_shape)
      decode           z (batch, *code_shape) -> reconstruction

  Every tensor is float32 and the batch dimension is dynamic. The signatures
  are deterministic: a VAE reconstructs from `z_mean`. A tensor of the wrong
  shape is refused with an error that names the expected shape, and one
  holding NaN or infinite values with an `InvalidArgument` error, as `fit`
  refuses them. `write_serving_config` writes the `models.config` that TF
  Serving reads, as TF Serving's own `ModelServerConfig` message.
- `convert_to_tflite` converts one signature, through a SavedModel, to a
  TensorFlow Lite flatbuffer with builtin ops only, in float32 or quantized
  (`"dynamic"`, `"float16"` or full-integer `"int8"`). `TFLiteRunner` runs it
  with the LiteRT interpreter (`ai_edge_litert`), refusing what `fit`
  refuses (raw uint8 bytes, NaN, wrong shapes), and `tflite_ops` lists its
  ops.

Every write is atomic (a marked temporary renamed into place), under the
user's umask, and one writer at a time per served model
(`keras_ae.io.writer_lock`).

One module per concern: `saved_model` (signatures and the versioned write),
`serving` (TF Serving's config), `tflite` (conversion and quantization),
`litert` (the runner) and `export_utils` (checks and atomic writes). The
command line's `export` and `convert` live in `keras_ae.cli`.
"""

from keras_ae.export.export_utils import load_keras_model
from keras_ae.export.litert import TFLiteRunner
from keras_ae.export.litert import run_tflite
from keras_ae.export.saved_model import SIGNATURES
from keras_ae.export.saved_model import export_saved_model
from keras_ae.export.saved_model import saved_model_signature_specs
from keras_ae.export.saved_model import saved_model_signatures
from keras_ae.export.serving import CONTAINER_MODEL_ROOT
from keras_ae.export.serving import SERVING_CONFIG
from keras_ae.export.serving import SERVING_CONFIG_HEADER
from keras_ae.export.serving import refresh_serving_config
from keras_ae.export.serving import write_serving_config
from keras_ae.export.tflite import CALIBRATION_EXAMPLES
from keras_ae.export.tflite import QUANTIZATIONS
from keras_ae.export.tflite import UnsupportedOpsError
from keras_ae.export.tflite import convert_to_tflite
from keras_ae.export.tflite import tflite_ops

__all__ = [
    "CALIBRATION_EXAMPLES", "CONTAINER_MODEL_ROOT", "QUANTIZATIONS",
    "SERVING_CONFIG", "SERVING_CONFIG_HEADER", "SIGNATURES", "TFLiteRunner",
    "UnsupportedOpsError", "convert_to_tflite", "export_saved_model",
    "load_keras_model", "refresh_serving_config", "run_tflite",
    "saved_model_signature_specs", "saved_model_signatures", "tflite_ops",
    "write_serving_config",
]
