"""Performance benchmark: throughput, hardware efficiency, latency, speed-ups.

Run it from the repository root:

    python -m benchmarks.perf --overwrite   # the full suite, sized to
                                            # finish in < 10 min on 2
                                            # quiet cores
    python -m benchmarks.perf --quick --output-dir /tmp/perf
                                            # a few steps per figure: checks
                                            # the script end to end, figures
                                            # are not to be quoted

It measures, in one run:

1. `peak`: the FLOP/s of a large float32 matmul (`tf.linalg.matmul` of two
   2048 x 2048 matrices, median of several runs), the yardstick of section 2.
2. `training`: the training throughput (examples/s) of every registered
   family as an AE and a VAE (latent_dim 16, batch 128, BCE loss, Adam) on
   the 4,000 embedded training digits, fed by `keras_ae.data.make_dataset`.
   Steady state: a `keras.callbacks.Callback` times every epoch and the
   warm-up epochs (tracing, cache filling) are left out. Hardware efficiency
   = throughput x training FLOPs per example / the matmul's FLOP/s, with the
   FLOPs counted by `benchmarks.flops` (2 per multiply-accumulate,
   training = 3 x forward).
3. `reference`: keras_ae's `VariationalAutoEncoder` against the keras.io
   VAE example (`benchmarks.reference_vae`), with the same encoder and
   decoder and the same initial weights, the same data, epochs and seeds:
   keras_ae trained the zoo's way (`make_dataset` + `fit(validation_data=
   ...)`), the reference the example's way (`fit(x_train, batch_size=128)`).
   Throughput (validation time excluded, and the whole epoch's wall time)
   and the held-out negative ELBO of both, computed by one function.
4. `latency`: the median latency at batch 1 and 256 of every family's VAE
   in each deployed form: Keras (`model(x, training=False)` in a
   `tf.function`, and `predict_on_batch`), the SavedModel's
   `serving_default` signature (`tf.saved_model.load`), and LiteRT float,
   dynamic-range and int8 models (`keras_ae.export.convert_to_tflite`, run by
   `keras_ae.export.TFLiteRunner`), built by
   `benchmarks.deployment.deployed_forms`.
5. `speedups`: the conv VAE's training throughput under
   `steps_per_execution` (1, 8, 32), `jit_compile` (False, True), the input
   pipeline (NumPy arrays to `fit` vs `make_dataset`'s cached, prefetched
   `tf.data` pipeline), the callbacks of `keras_ae.training.train`, and, in
   fresh processes, TensorFlow's thread pools (`tf.config.threading`). The
   configurations run in interleaved rounds, so that a verdict holds only
   if every round agrees.

One module per section (`training` holds `peak` too); `settings` holds
the sizes and the model builder they share, and this package's `__main__`
the command line and the report. Each section prints its elapsed time.
Results go to `benchmarks/results/perf.json` and `perf.md` (a `--quick` run
writes `perf_quick.json` and `perf_quick.md`, marked provisional), with the
machine's description, its load average before and after, and the command;
existing results are replaced only with `--overwrite`. Throughput and
latency depend on the machine's load: run it on a quiet one.
"""
