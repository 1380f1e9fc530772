"""``spectool models list``: the registered architectures and the shipped pretrained checkpoints."""
from __future__ import annotations

import json

import typer

from ..errors import SpectoolError
from . import app

models_app = typer.Typer(help="Model architectures and pretrained checkpoints.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _architecture_rows(params: bool) -> list[dict]:
    """Registered architectures with the first line of their docstring; ``params`` builds each
    one (on the meta device where possible) to add task, input and parameter count."""
    import inspect

    from ..models import list_models
    from ..models._registry import _MODELS, create

    rows = []
    for name in list_models():
        row = {"architecture": name, "summary": (inspect.getdoc(_MODELS[name]) or "").split("\n")[0]}
        if params:
            import torch

            try:
                try:
                    with torch.device("meta"):  # shapes only: no memory for the weights
                        model = create(name)
                except NotImplementedError:  # a model that computes buffers from data at build time
                    model = create(name)
                row.update(task=getattr(model, "task", "?"), preprocess=getattr(model, "preprocess", None),
                           input_length=getattr(model, "input_length", None),
                           needs_image=bool(getattr(model, "needs_image", False)),
                           parameters=int(sum(p.numel() for p in model.parameters())))
            except Exception as exc:  # noqa: BLE001 - one broken preset is listed, not fatal
                row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def pretrained_summary(name: str) -> dict:
    """One row of card facts for the pretrained checkpoint ``name`` (no weights loaded)."""
    from ..models.pretrained import pretrained_calibration, pretrained_card

    card = pretrained_card(name)
    tr = card.get("training") or {}
    metrics = {k: v for k, v in (card.get("metrics") or {}).items() if isinstance(v, (int, float))}
    cal = pretrained_calibration(name) or {}
    row = {"name": name, "architecture": card.get("name"), "task": card.get("task"),
           "outputs": card.get("output_names"), "trained_on": f"{tr.get('source', '?')}: {tr.get('dataset', '?')}",
           "preprocess": card.get("preprocess"), "needs_image": bool(card.get("needs_image")),
           "metrics": metrics, "calibrated": bool(cal),
           "limitations": card.get("limitations")}
    if cal:
        row["calibration"] = {k: cal[k] for k in ("temperature", "ece_before", "ece_after", "snr_min", "label_range")
                              if k in cal}
        if cal.get("ood"):
            row["calibration"]["ood_threshold"] = cal["ood"].get("threshold")
    return row


def _fmt_metrics(metrics: dict) -> str:
    shown = ("accuracy", "macro_f1", "mae_teff", "mae_logg", "mae_feh", "mae_mass", "mae_age")
    keys = [k for k in shown if k in metrics]
    return ", ".join(f"{k} {metrics[k]:.3g}" for k in keys)


@models_app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    pattern: str = typer.Option("*", "--pattern", "-p", help="Glob over pretrained names."),
    params: bool = typer.Option(False, "--params", help="Build each architecture to show its task, input and "
                                "parameter count (slower)."),
) -> None:
    """List architectures (spectool.models.create) and pretrained checkpoints (spectool.models.load)."""
    from ..models.pretrained import list_pretrained

    try:
        archs = _architecture_rows(params)
        pre = [pretrained_summary(n) for n in list_pretrained(pattern)]
    except SpectoolError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps({"architectures": archs, "pretrained": pre}, indent=2, default=str))
        return
    typer.echo("Architectures (spectool.models.create(name)):")
    for a in archs:
        if "error" in a:
            typer.echo(f"  {a['architecture']:<16} {a['error']}")
        elif "parameters" in a:
            img = ", + g,r,i image" if a["needs_image"] else ""
            typer.echo(f"  {a['architecture']:<16} {a['task']:<14} {a['parameters'] / 1e6:6.2f}M params, "
                       f"input {a['input_length']} px ({a['preprocess']} recipe{img})")
        else:
            typer.echo(f"  {a['architecture']:<16} {a['summary']}")
    typer.echo("\nPretrained checkpoints (spectool.models.load(name); trained on SYNTHETIC mock data):")
    for r in pre:
        outs = r["outputs"] or []
        shown = ", ".join(outs[:8]) + (f", ... ({len(outs)})" if len(outs) > 8 else "")
        typer.echo(f"  {r['name']}")
        typer.echo(f"      {r['architecture']}, {r['task']} -> {shown}")
        typer.echo(f"      trained on {r['trained_on']}; mock test: {_fmt_metrics(r['metrics']) or 'n/a'}")
        cal = r.get("calibration")
        if cal:
            parts = []
            if "temperature" in cal:
                parts.append(f"T {cal['temperature']:.3g}, ECE {cal['ece_before']:.3f} -> {cal['ece_after']:.3f}")
            if cal.get("ood_threshold") is not None:
                parts.append(f"OOD threshold {cal['ood_threshold']:.3g}")
            if cal.get("snr_min") is not None:
                parts.append(f"low S/N < {cal['snr_min']:.3g}")
            typer.echo(f"      calibrated: {'; '.join(parts)}")
        else:
            typer.echo("      not calibrated (run scripts/calibrate_pretrained.py)")
        if r["limitations"]:
            typer.echo(f"      limitations: {r['limitations']}")
