"""Options more than one command takes, as decorators, and how their values are read.

A command lists what it takes as decorators (`@model_options(...)`,
`@quiet_option`, ...) so the same option has one spelling, type and default
everywhere; help texts that depend on the command are arguments.
"""

from __future__ import annotations

import pathlib

import click

from mobilekit.errors import UserError


def _options(*decorators):
    """One decorator applying `decorators` so that `--help` lists them in the order given."""

    def apply(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def model_options(*, weights: str):
    """--model NAME, --weights, --resolution, --alpha and --option KEY=VALUE (read with `parse_options`)."""
    return _options(
        click.option(
            "--model", "model_name", required=True, metavar="NAME", help="Architecture name (see `mobilekit models`)."
        ),
        click.option("--weights", default="imagenet", show_default=True, metavar="imagenet|none|PATH", help=weights),
        click.option(
            "--resolution",
            type=click.IntRange(min=1),
            default=None,
            help="Input size in pixels  [default: the model's].",
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(min=0, min_open=True),
            default=1.0,
            show_default=True,
            help="Width multiplier.",
        ),
        click.option(
            "--option",
            "option_pairs",
            multiple=True,
            metavar="KEY=VALUE",
            help="A model's own option, e.g. lrn=true for alexnet (repeatable; see `mobilekit models NAME`).",
        ),
    )


def data_option(*, required: bool, help: str):  # noqa: A002  (click's own name for it)
    return click.option("--data", "source", required=required, default=None, metavar="SOURCE", help=help)


def split_options(*, whose: str):
    """--validation-split and --test-split: the shares a training run holds out (`whose`: how help names them)."""
    return _options(
        click.option(
            "--validation-split",
            type=float,
            default=0.1,
            show_default=True,
            help=f"Share of each class for validation, drawn with --seed ({whose}).",
        ),
        click.option(
            "--test-split",
            type=float,
            default=None,
            help=f"Share of each class held out for testing ({whose})  [default: mnist5k's fixed split, else 0.1].",
        ),
    )


def output_folder_option(*, help: str, required: bool = True):  # noqa: A002
    """--output DIR: the folder a command writes its run into."""
    return click.option(
        "--output",
        "output_dir",
        required=required,
        default=None,
        type=click.Path(path_type=pathlib.Path),
        metavar="DIR",
        help=help,
    )


def seed_option(*, help: str):  # noqa: A002
    return click.option("--seed", type=int, default=0, show_default=True, help=help)


def force_option(*, help: str):  # noqa: A002
    return click.option("--force", is_flag=True, help=help)


quiet_option = click.option("--quiet", is_flag=True, help="No progress output.")


def distribute_option(*, default: str | None):
    from mobilekit.train.distribute import CHOICES

    return click.option(
        "--distribute",
        "distribution",
        type=click.Choice(CHOICES),
        default=default,
        show_default=default is not None,
        help="tf.distribute strategy: auto = multi-worker when TF_CONFIG names a cluster, mirrored when "
        "more than one GPU is visible, else none. --batch-size is the global batch.",
    )


def start_distribution(choice: str, show: bool):
    """The strategy of `--distribute`, created before TensorFlow runs anything (as multi-worker needs)."""
    from mobilekit.train import distribute

    plan = distribute.choose(choice)
    strategy = plan.strategy()
    if show and plan.kind != "none":
        click.echo(f"distributed: {plan.describe()}, {strategy.num_replicas_in_sync} replica(s)", err=True)
    return strategy


def parse_options(pairs: tuple[str, ...]) -> dict:
    """`--option KEY=VALUE` pairs -> {key: value}; true/false, whole numbers and decimals are typed."""
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not text.strip():
            raise UserError(
                f"--option {pair!r}: expected KEY=VALUE, e.g. --option lrn=true "
                "(`mobilekit models NAME` lists a model's options)."
            )
        text = text.strip()
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    value = text  # the registry names the expected type
        options[key] = value
    return options
