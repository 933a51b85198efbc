"""What every task of the quality benchmark shares: data, the zoo's models, rows."""

import dataclasses
import os
import time

import numpy as np

TIME_FACTOR = 1.5  # a zoo model may train at most this much longer than its anchor

# The zoo's model of each task: `keras_ae.build_autoencoder` arguments, and
# how it trains (Adam's learning rate, batch size and the recipe's options;
# see `train_zoo_model`). Chosen by measurement at 30 epochs, the README says
# what each choice bought.
ZOO = {
    "denoising": {
        "model": {"family": "conv", "latent_dim": (7, 7, 16), "filters": (32, 48)},
        "training": {"cosine_decay": False},
    },
    "occlusion": {
        "model": {"family": "conv", "latent_dim": (7, 7, 16), "filters": (32, 48)},
        "training": {"cosine_decay": False},
    },
    "classifier": {
        "model": {"family": "conv", "latent_dim": 16},
        "training": {"cosine_decay": False},
    },
    "vae": {
        "model": {"family": "conv", "latent_dim": 16, "variational": True},
        "training": {"learning_rate": 2e-3, "batch_size": 64,
                     "cosine_decay": True, "kl_warmup_epochs": 5},
    },
    "compression_lstm": {
        "model": {"family": "lstm", "latent_dim": 16},
        "training": {"cosine_decay": False},
    },
    "compression_transformer": {
        "model": {"family": "transformer", "latent_dim": 16},
        "training": {"cosine_decay": False},
    },
}


@dataclasses.dataclass
class Context:
    """The data and settings every task shares."""

    x_train: np.ndarray
    y_train: np.ndarray
    held_out: dict  # name -> (x, y)
    epochs: int
    batch_size: int
    seed: int
    small: bool
    figures: str
    reference_classifier: object = None

    @classmethod
    def create(cls, args, figures):
        from benchmarks.common import find_mnist_files
        from keras_ae.data import load_digits
        from keras_ae.data import load_idx

        (x_train, y_train), (x_val, y_val) = load_digits(seed=args.seed)
        held_out = {"embedded_validation": (x_val, y_val)}
        if args.mnist_dir:
            held_out["mnist_test"] = load_idx(*find_mnist_files(args.mnist_dir))
        if args.small:
            x_train, y_train = x_train[:1000], y_train[:1000]
            held_out = {k: (x[:200], y[:200]) for k, (x, y) in held_out.items()}
        return cls(x_train, y_train, held_out, args.epochs, args.batch_size,
                   args.seed, args.small, figures)

    def classifier(self):
        """The reference digit classifier (trained once, on x_train)."""
        from keras_ae.evaluation import train_reference_classifier

        if self.reference_classifier is None:
            self.reference_classifier = train_reference_classifier(
                self.x_train, self.y_train, epochs=2 if self.small else 8,
                seed=self.seed)
        return self.reference_classifier

    def figure(self, name):
        return os.path.join(self.figures, f"{name}.png")


def row(task, metric, held_out, zoo, anchor, anchor_name, met, target,
        zoo_seconds=None, anchor_seconds=None):
    """One line of the side-by-side table."""
    ratio = (zoo_seconds / anchor_seconds
             if zoo_seconds and anchor_seconds else None)
    return {"task": task, "metric": metric, "held_out": held_out,
            "zoo": float(zoo), "anchor": None if anchor is None else float(anchor),
            "anchor_name": anchor_name, "target": target, "met": bool(met),
            "zoo_seconds": zoo_seconds, "anchor_seconds": anchor_seconds,
            "time_ratio": ratio,
            "time_met": None if ratio is None else bool(ratio <= TIME_FACTOR)}


def timed_fit(model, *args, **kwargs):
    """`model.fit(...)` and its wall time in seconds."""
    start = time.perf_counter()
    model.fit(*args, **kwargs)
    return time.perf_counter() - start


def train_zoo_model(context, task, corruption=None, **overrides):
    """Builds, compiles and trains the zoo's model of `task` (see `ZOO`).

    The recipe here has no validation data (the held-out digits judge the
    model, so they must not choose its epoch): KL warm-up and the cosine
    learning-rate decay only, as `ZOO[task]["training"]` says. `overrides`
    replace training settings (the ablation).

    Returns:
        `(model, seconds)`: the trained model and its training wall time.
    """
    import keras

    import keras_ae
    from keras_ae.callbacks import training_recipe
    from keras_ae.data import make_dataset

    training = {"learning_rate": 1e-3, "batch_size": context.batch_size,
                "kl_warmup_epochs": 0, "cosine_decay": True,
                **ZOO[task]["training"], **overrides}
    keras.utils.set_random_seed(context.seed)
    model = keras_ae.build_autoencoder(
        input_shape=context.x_train.shape[1:], reconstruction_loss="bce",
        seed=context.seed if ZOO[task]["model"].get("variational") else None,
        **ZOO[task]["model"])
    model.compile(optimizer=keras.optimizers.Adam(training["learning_rate"]))
    callbacks = training_recipe(
        context.epochs, training["learning_rate"],
        kl_warmup_epochs=training["kl_warmup_epochs"],
        cosine_decay=training["cosine_decay"], restore_best_weights=False)
    seconds = timed_fit(
        model, make_dataset(context.x_train, batch_size=training["batch_size"],
                            seed=context.seed, corruption=corruption),
        epochs=context.epochs, shuffle=False, verbose=0, callbacks=callbacks)
    return model, seconds
