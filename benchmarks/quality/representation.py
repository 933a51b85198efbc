"""Representation tasks: the encoder as a classifier, and compression against PCA."""

import time

import numpy as np

from benchmarks.quality.context import row
from benchmarks.quality.context import timed_fit
from benchmarks.quality.context import train_zoo_model

LABELS_PER_CLASS = (10, 100, None)


def _accuracy(model, x, y):
    return float(np.mean(model.predict(x, batch_size=512, verbose=0).argmax(1) == y))


def _convnet(context, x, y, augment):
    """The keras.io convnet on `(x, y)`, optionally behind the zoo's augmentation."""
    import keras

    from benchmarks.anchors import build_keras_io_convnet
    from keras_ae.evaluation.representation import augmentation_layers

    keras.utils.set_random_seed(context.model_seed)
    convnet = build_keras_io_convnet(x.shape[1:], 10)
    if augment:
        inputs = keras.Input(x.shape[1:])
        convnet = keras.Model(inputs, convnet(augmentation_layers(
            seed=context.model_seed)(inputs)))
        convnet.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    seconds = timed_fit(convnet, x, y, epochs=context.epochs,
                        batch_size=context.batch_size, verbose=0)
    return convnet, seconds


def run_classifier(context):
    """Fine-tuned pretrained encoder vs the keras.io convnet, per label count."""
    from keras_ae.evaluation import build_classifier
    from keras_ae.evaluation import fine_tune_classifier
    from keras_ae.evaluation import stratified_subset
    from keras_ae.evaluation.representation import _head_features
    from keras_ae.evaluation.representation import _logistic_accuracy

    pretrained, pretrain_seconds = train_zoo_model(context, "classifier")
    # The probe reads what the fine-tuned head reads: the frozen backbone.
    frozen = build_classifier(pretrained, 10, features="backbone")

    def features(x):
        return _head_features(frozen, x)

    rows, details = [], {"pretrain_seconds": pretrain_seconds}
    for per_class in LABELS_PER_CLASS:
        tag = "all" if per_class is None else str(per_class)
        if context.small and per_class is not None and per_class > 50:
            continue
        index = stratified_subset(context.y_train, per_class, seed=context.seed)
        x, y = context.x_train[index], context.y_train[index]
        start = time.perf_counter()
        zoo = fine_tune_classifier(pretrained, x, y, epochs=context.epochs,
                                   batch_size=context.batch_size,
                                   seed=context.model_seed)
        zoo_seconds = time.perf_counter() - start
        anchor, anchor_seconds = _convnet(context, x, y, augment=False)
        augmented, augmented_seconds = _convnet(context, x, y, augment=True)
        details[tag] = {"zoo_seconds": zoo_seconds,
                        "anchor_seconds": anchor_seconds,
                        "augmented_anchor_seconds": augmented_seconds}
        train_features = features(x)
        for name, (x_test, y_test) in context.held_out.items():
            accuracy = {
                "zoo": _accuracy(zoo, x_test, y_test),
                "anchor": _accuracy(anchor, x_test, y_test),
                "augmented_anchor": _accuracy(augmented, x_test, y_test),
                "probe": _logistic_accuracy(train_features, y, features(x_test),
                                            y_test, standardize=True),
                "pixels": _logistic_accuracy(x.reshape(len(x), -1), y,
                                             x_test.reshape(len(x_test), -1),
                                             y_test, standardize=False),
            }
            details[tag][name] = accuracy
            margin = 0.03 if per_class == 10 else 0.0
            task = f"encoder as classifier, {tag} labels/class"
            rows += [
                row(task, "accuracy, fine-tuned", name, accuracy["zoo"],
                    accuracy["anchor"], "keras.io convnet",
                    accuracy["zoo"] >= accuracy["anchor"] + margin,
                    f"anchor + {margin * 100:g} points" if margin else ">= anchor",
                    zoo_seconds, anchor_seconds),
                row(task, "accuracy, fine-tuned", name, accuracy["zoo"],
                    accuracy["augmented_anchor"],
                    "keras.io convnet + same augmentation",
                    accuracy["zoo"] >= accuracy["augmented_anchor"],
                    "(reported)", zoo_seconds, augmented_seconds),
                row(task, "accuracy, linear probe on frozen features", name,
                    accuracy["probe"], accuracy["anchor"], "keras.io convnet",
                    accuracy["probe"] >= accuracy["anchor"] + margin,
                    "(reported)"),
            ]
    return rows, details


def run_compression(context):
    """The lstm and transformer AEs against PCA at the same code size."""
    from keras_ae.evaluation import compare_with_pca
    from keras_ae.evaluation import evaluate_classification

    rows, details = [], {}
    for family in ("lstm", "transformer"):
        model, seconds = train_zoo_model(context, f"compression_{family}")
        details[family] = {"seconds": seconds}
        for name, (x, y) in context.held_out.items():
            mse = compare_with_pca(model, context.x_train, x,
                                   path=context.figure(f"compression_{family}_{name}"))
            accuracy = evaluate_classification(
                model, context.x_train, context.y_train, x, y,
                labels_per_class=(None,), seed=context.seed, fine_tune_steps=0)
            details[family][name] = {**mse, **accuracy}
            rows += [
                row(f"compression, {family}", "MSE per pixel", name,
                    mse["ae_mse"], mse["pca_mse"], "PCA (16)",
                    mse["ae_mse"] < mse["pca_mse"], "< PCA", seconds),
                row(f"compression, {family}", "probe accuracy, all labels", name,
                    accuracy["probe_accuracy_all"], accuracy["pca_accuracy_all"],
                    "PCA (16)", accuracy["probe_accuracy_all"]
                    >= accuracy["pca_accuracy_all"], ">= PCA", seconds),
            ]
    return rows, details
