"""`mobilekit models`: the zoo as a table, or one model's card."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("card", required=False, metavar="[NAME]")
@click.option("--json", "as_json", is_flag=True, help="Print the table (or the card) as JSON.")
@click.option("--name", "only", multiple=True, metavar="NAME", help="Only these models in the table (repeatable).")
def models(card, as_json, only):
    """List every registered architecture, or show the model card of NAME.

    The table gives each model's task (classification or segmentation),
    trainable parameters, MACs, default resolution and the reference
    implementation it matches; the card adds the paper, the one idea it
    introduced and the model's own options. Parameters and MACs are counted on
    the built model (random weights, 1000 classes, or the reference's classes where it has other:
    21 for the segmentation models) at its default resolution.
    """
    from mobilekit.progress import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mobilekit import models as zoo
    from mobilekit.progress import bar

    if card is not None:
        row = _row(zoo.info(card).name)
        click.echo(json.dumps(row, indent=2) if as_json else format_card(row))
        return
    names = [zoo.info(name).name for name in only] if only else zoo.names()
    rows = [_row(name) for name in bar(names, desc="building models", enabled=not as_json)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = f"{'name':<34} {'task':<14} {'params':>12} {'MACs':>10} {'res':>5}  reference"
    click.echo(header)
    click.echo("-" * len(header))
    for row in rows:
        click.echo(
            f"{row['name']:<34} {row['task']:<14} {row['parameters']:>12,} {row['macs'] / 1e6:>9.1f}M "
            f"{row['resolution']:>5}  {row['reference']}"
        )


def _row(name: str) -> dict:
    """One model's card as a dict: registry facts plus counts on the built model."""
    import tf_keras

    from mobilekit import models as zoo

    info = zoo.info(name)
    model = zoo.build(name, num_classes=info.reference_counts.num_classes if info.reference_counts else 1000)
    row = {
        "name": name,
        "family": info.family,
        "task": info.task,
        "description": info.description,
        "paper": info.paper,
        "idea": info.idea,
        "parameters": zoo.count_params(model),
        "macs": zoo.count_macs(model),
        "resolution": info.default_resolution,
        "reference": info.reference,
        "matches": "weight-compatible" if info.reference_counts is None else _counts(info.reference_counts),
        "imagenet_weights": info.imagenet_weights,
        "backbone": info.backbone,
        "options": dict(info.options),
    }
    del model
    tf_keras.backend.clear_session()  # keep memory flat across the whole zoo
    return row


def _counts(counts) -> str:
    macs = "" if counts.macs is None else f", {counts.macs / 1e6:.1f} M MACs"
    return f"{counts.params:,} parameters{macs} at {counts.resolution} px with {counts.num_classes} classes"


def format_card(row: dict) -> str:
    options = ", ".join(f"{k}={v!r}" for k, v in row["options"].items()) or "none"
    lines = [
        f"{row['name']}  ({row['family']}, {row['task']})",
        f"  {row['description']}",
        f"  paper       {row['paper']}",
        f"  idea        {row['idea']}",
        f"  parameters  {row['parameters']:,}",
        f"  MACs        {row['macs'] / 1e6:.1f} M at {row['resolution']}x{row['resolution']}",
        f"  reference   {row['reference']} ({row['matches']})",
        "  weights     "
        + (
            f"imagenet in the backbone (through {row['backbone']}'s keras.applications weights), none, or a file"
            if row["backbone"]
            else "imagenet (through keras.applications), none, or a file"
            if row["imagenet_weights"]
            else "none or a file (no published ImageNet weights for this layout)"
        ),
        f"  options     {options}",
    ]
    return "\n".join(lines)
