"""The `mobilekit` command: a lazy click group, so `mobilekit --help` never imports TensorFlow."""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from mobilekit import __version__
from mobilekit.errors import MobilekitWarning, UserError

# command name -> (module, function, one-line help shown in `mobilekit --help`)
COMMANDS = {
    "adapt": ("mobilekit.cli.adapt", "adapt", "Shrink a model's channels to a latency target measured on LiteRT."),
    "bench": ("mobilekit.cli.bench", "bench", "Latency, memory and MACs of .tflite files, side by side."),
    "convert": ("mobilekit.cli.convert", "convert", "Build a zoo model and convert it to .tflite with metadata."),
    "eval": (
        "mobilekit.cli.evaluate",
        "evaluate",
        "Top-1/top-5 accuracy, or a segmenter's mean IoU, of a .tflite file on labelled data.",
    ),
    "inspect": ("mobilekit.cli.inspect", "inspect", "Show a .tflite file's metadata, tensors and ops."),
    "models": ("mobilekit.cli.models", "models", "List the architectures in the zoo."),
    "report": ("mobilekit.cli.report", "report", "Markdown tables and plots of accuracy, size and latency."),
    "run": ("mobilekit.cli.run", "run", "Run a YAML recipe: train, prune, distill, QAT, export, evaluate."),
    "train": ("mobilekit.cli.train", "train", "Train or fine-tune a zoo model on your images or a bundled dataset."),
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (or its help is shown)."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, function, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), function)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise click.ClickException(str(error)) from None


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, MobilekitWarning):
        click.secho(f"Warning: {message}", fg="yellow", err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mobilekit")
def cli():
    """mobilekit: efficient CNNs, optimized and shipped to phones as fully-integer TFLite.

    \b
    Example:
      mobilekit convert --model efficientnet_b0 --int8
    """
    # Library warnings become one-line messages; TensorFlow's own chatter is dropped.
    warnings.showwarning = _show_warning


def main():  # pragma: no cover - console entry point
    sys.exit(cli())
