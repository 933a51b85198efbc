"""`keras_ae train`: train an autoencoder and write its run (the main job)."""

from keras_ae import recipes
from keras_ae import training
from keras_ae.cli import _flags
from keras_ae.cli.summary import summarize_run
from keras_ae.config import ModelConfig
from keras_ae.config import TrainingConfig

__all__ = ["add_parser"]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train", help="train an autoencoder and write its run",
        description="Train an autoencoder and write its run directory: the "
        ".keras model, the history, figures, TensorBoard logs, a SavedModel "
        "for TF Serving and a TensorFlow Lite model. The defaults train a "
        "conv VAE on the embedded MNIST digits (offline).")
    parser.add_argument(
        "--recipe", default=None, metavar="NAME",
        help="start from a named recipe of the zoo (the flags given override "
        f"its settings); one of: {', '.join(recipes.list_recipes())}")
    _flags.add_config_flags(parser, ModelConfig, "model")
    _flags.add_config_flags(parser, TrainingConfig, "training")
    run = parser.add_argument_group("run")
    run.add_argument("--output-dir", default="saved_models",
                     help="directory that holds the runs (default: "
                     "%(default)s)")
    run.add_argument("--run-name", default=None,
                     help="name of the run directory, by default "
                     "<family>_<objective>_<timestamp>; an existing run is "
                     "never overwritten")
    run.add_argument("--resume", action="store_true",
                     help="continue the unfinished run --run-name from where "
                     "it stopped")
    parser.set_defaults(run=run_train)
    return parser


def run_train(args):
    model, training_config = ModelConfig(), TrainingConfig()
    if args.recipe is not None:
        recipe = recipes.get_recipe(args.recipe)
        model, training_config = recipe.model, recipe.training
    model = _flags.config_from_args(ModelConfig, args, model)
    training_config = _flags.config_from_args(TrainingConfig, args,
                                              training_config)
    result = training.train(model, training_config, args.output_dir,
                            args.run_name, args.resume)
    print(summarize_run(result))
