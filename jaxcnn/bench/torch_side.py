"""PyTorch side by side, in the same process, at the same batch: eager in both memory layouts
(the faster one marked ``best``) and ``torch.compile`` in the best layout.

Compute: float32, or with ``dtype='bfloat16'`` autocast to bf16 (AMP; parameters float32).
Train: ``torch.optim.SGD(momentum=0.9, nesterov=True, weight_decay=5e-4)`` (decay on the
convolution and linear weights only, as jaxcnn's ``optimizer``), cross-entropy, and the full
step: zero_grad, forward, backward, step. Eval: forward in eval mode under ``no_grad``.
PyTorch is imported only here, and only when a comparison is asked for.
"""

from __future__ import annotations

import importlib
import time
import traceback

from .rows import Row, set_flops, set_rates
from .spec import Spec, time_blocks

MEMORY_LAYOUTS = ("channels_first", "channels_last")


def torch_rows(spec: Spec, jax_row: Row, peak, *, compile: bool = True) -> list[Row]:
    """The PyTorch rows of a resolved spec (see the module doc), with ``ratio`` filled on them
    and on ``jax_row``; one ``skipped`` row with the reason when PyTorch cannot run it."""
    reason = _skip_reason(spec, jax_row)
    if reason:
        return [_skipped(spec, jax_row, reason)]
    import torch

    device = "cuda" if jax_row.backend == "gpu" else "cpu"
    eager = [_measure(spec, jax_row, peak, device, layout, compiled=False) for layout in MEMORY_LAYOUTS]
    best = max((r for r in eager if r.status == "ok"), key=lambda r: r.img_s, default=None)
    rows = list(eager)
    if best is not None:
        best.best = True
        jax_row.ratio = jax_row.img_s / best.img_s
    if compile:
        layout = best.variant.split()[-1] if best else "channels_last"
        rows.append(_measure(spec, jax_row, peak, device, layout, compiled=True))
    for row in rows:
        row.torch_version = torch.__version__
        if row.status == "ok":
            row.ratio = jax_row.img_s / row.img_s
    return rows


def import_error(*modules: str) -> str | None:
    """Why one of ``modules`` (``"torch"``, ``"torchvision"``) cannot be imported here, or None."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            return f"PyTorch is not importable ({err}); install the extra: pip install -e '.[torch]'"
    return None


def _skip_reason(spec: Spec, jax_row: Row) -> str | None:
    missing = import_error("torch", "torchvision")
    if missing:
        return missing
    import torch

    if jax_row.backend == "gpu" and not torch.cuda.is_available():
        return "JAX runs on a GPU but this PyTorch has no CUDA device; a CPU figure would not compare"
    if jax_row.backend not in ("cpu", "gpu"):
        return f"PyTorch has no {jax_row.backend} backend here"
    return None


def _skipped(spec: Spec, jax_row: Row, reason: str) -> Row:
    return spec.row("torch", "-", status="skipped", note=reason, **_where(jax_row))


def _where(jax_row: Row) -> dict:
    names = ("device_kind", "backend", "cpu_count", "jax_version", "jaxlib_version", "date")
    return {n: getattr(jax_row, n) for n in names}


def _measure(spec: Spec, jax_row: Row, peak, device: str, layout: str, *, compiled: bool) -> Row:
    """One variant; a failure (torch.compile without a C++ toolchain, say) becomes a failed row."""
    import torch

    amp = "amp-bf16 " if spec.dtype == "bfloat16" else ""
    variant = f"{'compile' if compiled else 'eager'} {amp}{layout}"
    row = spec.row("torch", variant, **_where(jax_row))
    if device == "cuda":
        row.device_kind = torch.cuda.get_device_name()
        torch.cuda.reset_peak_memory_stats()
    try:
        seconds, row.compile_s, row.params = _run(spec, device, layout, compiled)
    except Exception as err:  # any failure is reported in the row, not raised
        row.status, row.note = "failed", _reason(err)
        return row
    row.note = f"{torch.get_num_threads()} threads" if device == "cpu" else ""
    row.peak_memory_bytes = torch.cuda.max_memory_allocated() if device == "cuda" else None
    set_rates(row, seconds, spec.batch * spec.steps)
    return set_flops(row, jax_row.macs, *peak)


def _run(spec: Spec, device: str, layout: str, compiled: bool) -> tuple[list[float], float | None, int]:
    """(timed block seconds, seconds of the first call when compiled, parameter count)."""
    import torch

    from .torch_models import torch_model

    torch.manual_seed(0)
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model, _ = torch_model(spec.model, spec.in_channels, spec.num_classes)
    model = model.to(device=device, memory_format=memory_format)
    params = sum(p.numel() for p in model.parameters())
    x = torch.randn(spec.batch, spec.in_channels, spec.image_size, spec.image_size, device=device)
    x = x.contiguous(memory_format=memory_format)
    y = torch.randint(0, spec.num_classes, (spec.batch,), device=device)
    net = torch.compile(model) if compiled else model
    step = (
        _train_step(net, model, x, y, spec, device) if spec.mode == "train" else _eval_step(net, model, x, spec, device)
    )
    sync = (lambda _: torch.cuda.synchronize()) if device == "cuda" else (lambda _: None)
    first = None
    if compiled:
        start = time.perf_counter()
        sync(step(None))
        first = time.perf_counter() - start
    seconds, _ = time_blocks(step, None, spec, sync)
    return seconds, first, params


def _autocast(spec: Spec, device: str):
    import torch

    return torch.autocast(device, dtype=torch.bfloat16, enabled=spec.dtype == "bfloat16")


def _train_step(net, model, x, y, spec: Spec, device: str):
    import torch

    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay}, {"params": rest, "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step(_):
        opt.zero_grad(set_to_none=True)
        with _autocast(spec, device):
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _eval_step(net, model, x, spec: Spec, device: str):
    import torch

    model.eval()

    def step(_):
        with torch.no_grad(), _autocast(spec, device):
            return net(x)

    return step


def _reason(err: BaseException) -> str:
    """``'TypeName: first line of the message'`` (at most 300 characters) and where it came from."""
    first = (str(err).strip().splitlines() or [""])[0]
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(err).__name__}: {first}"[:300] + where
