"""What every task of the quality benchmark shares: data, the zoo's models, rows."""

import dataclasses
import os
import time

import numpy as np

TIME_FACTOR = 1.5  # a zoo model may train at most this much longer than its anchor

# The zoo's model of each task: a named recipe of `keras_ae.recipes`, the
# model config and the training settings a user gets with `python -m
# keras_ae train --recipe NAME` (see `train_zoo_model` for what the
# benchmark takes from it).
ZOO = {
    "denoising": "conv_denoiser_digits",
    "occlusion": "conv_inpainter_digits",
    "classifier": "conv_ae_digits",
    "vae": "conv_vae_digits_batch64",
    "compression_lstm": "lstm_ae_digits",
    "compression_transformer": "transformer_ae_digits",
}


def zoo_recipe(task):
    """The `keras_ae.recipes.Recipe` of the zoo's model of `task`."""
    from keras_ae.recipes import get_recipe

    return get_recipe(ZOO[task])


@dataclasses.dataclass
class Context:
    """The data and settings every task shares.

    `seed` fixes what judges the models, the same in every repeat: the
    split of the embedded digits, the corruption of the held-out images,
    the reference classifier and the draws of the judges. `model_seed`
    seeds what is trained (weights, shuffles, training corruptions), one
    repeat per seed of `--seeds`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    held_out: dict  # name -> (x, y)
    epochs: int
    batch_size: int
    seed: int
    small: bool
    figures: str
    model_seed: int = None
    reference_classifier: object = None

    def __post_init__(self):
        if self.model_seed is None:
            self.model_seed = self.seed

    @classmethod
    def create(cls, args, figures):
        from benchmarks.common import find_mnist_files
        from benchmarks.common import small_split
        from keras_ae.data import load_digits
        from keras_ae.data import load_idx

        (x_train, y_train), (x_val, y_val) = load_digits(seed=args.seed)
        held_out = {"embedded_validation": (x_val, y_val)}
        if args.mnist_dir:
            held_out["mnist_test"] = load_idx(*find_mnist_files(args.mnist_dir))
        if args.small:
            (x_train, y_train), held_out = small_split(x_train, y_train,
                                                       held_out)
        return cls(x_train, y_train, held_out, args.epochs, args.batch_size,
                   args.seed, args.small, figures)

    def for_model_seed(self, model_seed):
        """This context for one repeat: the same data and judge, `model_seed`."""
        self.classifier()  # trained once, shared by every repeat
        return dataclasses.replace(self, model_seed=model_seed)

    def classifier(self):
        """The reference digit classifier of x_train and `seed`, made once.

        The shipped judge for the embedded digits and seed 0; trained for
        any other seed, and for one epoch on the small mode's digits.
        """
        from keras_ae.evaluation import reference_classifier
        from keras_ae.evaluation import train_reference_classifier

        if self.reference_classifier is None:
            self.reference_classifier = (
                train_reference_classifier(self.x_train, self.y_train,
                                           epochs=self.epochs, seed=self.seed)
                if self.small else
                reference_classifier(self.x_train, self.y_train, seed=self.seed))
        return self.reference_classifier

    def figure(self, name):
        suffix = "" if self.model_seed == self.seed else f"_seed{self.model_seed}"
        return os.path.join(self.figures, f"{name}{suffix}.png")


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


ROW_KEY = ("task", "metric", "held_out", "anchor_name")


def combine_seeds(rows_by_seed):
    """One row per table line from the rows of every seed (the same lines each).

    The figures become their means over the seeds, with every seed's value
    (`*_seeds`) and the range (`zoo_min`, `zoo_max`); a verdict holds only
    when it holds for every seed, that is for the worst one (`met`,
    `time_met`). One seed gives its rows back with the seeds' fields added.

    Args:
        rows_by_seed: `{seed: [row, ...]}`, the rows of `row` of each seed.

    Returns:
        The combined rows, in the first seed's order.
    """
    seeds = list(rows_by_seed)
    keyed = {seed: {tuple(r[k] for k in ROW_KEY): r for r in rows}
             for seed, rows in rows_by_seed.items()}
    first = [tuple(r[k] for k in ROW_KEY) for r in rows_by_seed[seeds[0]]]
    for seed in seeds[1:]:
        if set(keyed[seed]) != set(first):
            raise ValueError(
                f"The seeds gave different table lines: seed {seeds[0]} "
                f"{sorted(set(first) - set(keyed[seed]))}, seed {seed} "
                f"{sorted(set(keyed[seed]) - set(first))}")
    combined = []
    for key in first:
        rows = [keyed[seed][key] for seed in seeds]
        line = dict(rows[0])
        line["seeds"] = seeds
        for field in ("zoo", "anchor", "zoo_seconds", "anchor_seconds",
                      "time_ratio"):
            values = [r[field] for r in rows]
            line[f"{field}_seeds"] = values
            line[field] = (None if any(v is None for v in values)
                           else float(np.mean(values)))
        line["zoo_min"] = float(min(line["zoo_seeds"]))
        line["zoo_max"] = float(max(line["zoo_seeds"]))
        line["targets"] = [r["target"] for r in rows]
        line["met_seeds"] = [r["met"] for r in rows]
        line["met"] = all(line["met_seeds"])
        line["time_met_seeds"] = [r["time_met"] for r in rows]
        line["time_met"] = (None if rows[0]["time_met"] is None
                            else all(line["time_met_seeds"]))
        combined.append(line)
    return combined


def timed_fit(model, *args, **kwargs):
    """`model.fit(...)` and its wall time in seconds."""
    start = time.perf_counter()
    model.fit(*args, **kwargs)
    return time.perf_counter() - start


def train_zoo_model(context, task, corruption=None, **overrides):
    """Builds, compiles and trains the zoo's model of `task` (see `ZOO`).

    The model is the recipe's `ModelConfig`; from its `TrainingConfig` the
    benchmark takes the learning rate, the batch size, the KL warm-up and
    the cosine decay. The epochs are the benchmark's (`--epochs`, the same
    for the anchors), and nothing restores a best epoch (the held-out digits
    judge the model, so they must not choose its epoch). `corruption` is
    the layer that corrupts the training batches, as the recipe's
    `corruption` names it. `overrides` replace training settings (the
    ablation): `learning_rate`, `batch_size`, `kl_warmup_epochs`,
    `cosine_decay`.

    Returns:
        `(model, seconds)`: the trained model and its training wall time.
    """
    import keras

    from keras_ae.callbacks import training_recipe
    from keras_ae.data import make_dataset

    recipe = zoo_recipe(task)
    settings = recipe.training
    expected = "none" if corruption is None else corruption.__class__.__name__
    names = {"none": "none", "GaussianNoise": "gaussian_noise",
             "Occlusion": "occlusion"}
    if names.get(expected) != settings.corruption:
        raise ValueError(
            f"The recipe {recipe.name!r} trains with corruption="
            f"{settings.corruption!r}. Received: a {expected} corruption")
    training = {"learning_rate": settings.learning_rate,
                "batch_size": settings.batch_size,
                "kl_warmup_epochs": settings.kl_warmup_epochs,
                "cosine_decay": settings.cosine_decay, **overrides}
    keras.utils.set_random_seed(context.model_seed)
    model = recipe.model.spec(context.x_train.shape[1:],
                              seed=context.model_seed).build()
    model.compile(optimizer=keras.optimizers.Adam(training["learning_rate"]))
    callbacks = training_recipe(
        context.epochs, training["learning_rate"],
        kl_warmup_epochs=training["kl_warmup_epochs"],
        cosine_decay=training["cosine_decay"], restore_best_weights=False)
    seconds = timed_fit(
        model, make_dataset(context.x_train, batch_size=training["batch_size"],
                            seed=context.model_seed, corruption=corruption),
        epochs=context.epochs, shuffle=False, verbose=0, callbacks=callbacks)
    return model, seconds
