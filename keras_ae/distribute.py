"""Training on several devices and machines with `tf.distribute`.

`make_strategy` names the strategies the main job offers. Under a
`MultiWorkerMirroredStrategy` every worker runs the same program; the chief
(worker 0, or the `chief` task of `TF_CONFIG`) writes the run, the other
workers write to a scratch directory, and the helpers here let the workers
agree before anything is written, so that no worker is left waiting on a
collective operation for a worker that stopped.
"""

import tensorflow as tf

__all__ = [
    "DISTRIBUTION_STRATEGIES", "make_strategy", "is_multi_worker", "is_chief",
    "worker_values", "check_same_on_every_worker"
]

DISTRIBUTION_STRATEGIES = ("none", "mirrored", "multi-worker")


def make_strategy(distribute):
    """Returns the `tf.distribute` strategy named by `distribute`.

    `"none"` is the default strategy (one device); `"mirrored"` replicates
    the model on every local GPU (or CPU when there is none);
    `"multi-worker"` trains across the machines that the `TF_CONFIG`
    environment variable describes (one local worker when it is unset).
    `TrainingConfig.distribute` checks the name.
    """
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_multi_worker(strategy=None):
    """Whether `strategy` (default: the current one) spans 2 or more workers.

    The workers are the `chief` and `worker` tasks of the strategy's
    cluster (an `evaluator` does not train).
    """
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict() if resolver else {}
    return sum(len(jobs.get(job, ())) for job in ("chief", "worker")) > 1


def is_chief(strategy=None):
    """Whether this process writes the run: always, except on non-chief workers."""
    strategy = strategy or tf.distribute.get_strategy()
    return bool(strategy.extended.should_checkpoint)


def worker_values(strategy, value):
    """Returns `value` (a number) as every replica of every worker has it.

    A collective operation: under a multi-worker strategy every worker must
    call it at the same point of its program. Elsewhere it returns `[value]`.
    """
    if not is_multi_worker(strategy):
        return [value]
    value = float(value)

    @tf.function
    def gather():
        per_replica = strategy.run(lambda: tf.constant([value]))
        return strategy.gather(per_replica, axis=0)

    return gather().numpy().tolist()


def check_same_on_every_worker(strategy, what, value, why):
    """Raises `ValueError` on every worker unless all hold the same `value`.

    A collective operation, like `worker_values`.
    """
    values = worker_values(strategy, value)
    if min(values) != max(values):
        raise ValueError(
            f"The workers disagree on the {what}: {sorted(set(values))}; {why}."
        )
