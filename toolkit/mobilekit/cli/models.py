"""`mobilekit models`: the zoo as a table."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--name", "only", multiple=True, metavar="NAME", help="Only these models (repeatable).")
def models(as_json, only):
    """List every registered architecture: parameters, MACs, default resolution, reference.

    Parameters and MACs are counted on the built model (random weights, 1000
    classes) at its default resolution.
    """
    import tf_keras

    from mobilekit import models as zoo
    from mobilekit.models.complexity import count_macs, count_params
    from mobilekit.progress import bar

    names = [zoo.info(name).name for name in only] if only else zoo.names()
    rows = []
    for name in bar(names, desc="building models", enabled=not as_json):
        info = zoo.info(name)
        model = zoo.build(name)
        rows.append({
            "name": name,
            "family": info.family,
            "parameters": count_params(model),
            "macs": count_macs(model),
            "resolution": info.default_resolution,
            "reference": info.reference,
        })
        del model
        tf_keras.backend.clear_session()  # keep memory flat across the whole zoo
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = f"{'name':<34} {'params':>12} {'MACs':>10} {'res':>5}  reference"
    click.echo(header)
    click.echo("-" * len(header))
    for row in rows:
        click.echo(f"{row['name']:<34} {row['parameters']:>12,} {row['macs'] / 1e6:>9.1f}M "
                   f"{row['resolution']:>5}  {row['reference']}")
