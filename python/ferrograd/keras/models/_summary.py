"""`model.summary()`: Keras's table (rich's heavy-head box, one row per layer, totals below)."""
import math
import shutil
import textwrap

from ..layers._base import flatten, map_structure


def _shape_text(layer):
    if not layer._inbound_nodes:
        return "?"
    outputs = layer._inbound_nodes[-1].outputs
    shapes = map_structure(lambda t: "(" + ", ".join("None" if d is None else str(d) for d in t.shape)
                           + ")", outputs)
    flat = flatten(shapes)
    return flat[0] if len(flat) == 1 else str(shapes).replace("'", "")


def _readable_size(n_bytes):
    units = ["B", "KB", "MB", "GB", "TB"]
    scale = 1024
    for unit in units:
        if n_bytes / scale < 1:
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= scale
    return f"{n_bytes:.2f} PB"


def _count(weights):
    return sum(math.prod(w.shape) for w in weights)


def _bytes(weights):
    return sum(math.prod(w.shape) * w.element_size() for w in weights)


def _fit_widths(widths, table_width):
    """rich's shrinking of padded column widths to a table width (its `ratio_reduce`, equal ratios)."""
    excess = sum(widths) + len(widths) + 1 - table_width
    if excess <= 0:
        return widths
    out, remaining, ratio_left = [], excess, len(widths)
    for width in widths:
        cut = min(width, round(remaining / ratio_left))
        out.append(width - cut)
        remaining -= cut
        ratio_left -= 1
    return out


def _render_table(header, rows, widths, align):
    """A rich-style table: widths are the cells' widths including one space of padding a side."""
    def line(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    def cell_lines(text, width):
        # rich wraps at spaces and ends a word too long for the cell with an ellipsis
        width -= 2
        lines = textwrap.wrap(str(text), width, break_long_words=False, break_on_hyphens=False) or [""]
        return [line if len(line) <= width else line[:width - 1] + "…" for line in lines]

    def row_text(cells, sep):
        wrapped = [cell_lines(c, w) for c, w in zip(cells, widths)]
        height = max(len(w) for w in wrapped)
        out = []
        for i in range(height):
            parts = []
            for lines, w, a in zip(wrapped, widths, align):
                text = lines[i] if i < len(lines) else ""
                parts.append(" " + (text.rjust(w - 2) if a == "right" else text.ljust(w - 2)) + " ")
            out.append(sep + sep.join(parts) + sep)
        return out

    out = [line("┏", "┳", "┓", "━")]
    out += row_text(header, "┃")
    out.append(line("┡", "╇", "┩", "━"))
    for i, r in enumerate(rows):
        if i:
            out.append(line("├", "┼", "┤", "─"))
        out += row_text(r, "│")
    out.append(line("└", "┴", "┘", "─"))
    return "\n".join(out)


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    from ._model import Functional
    functional = isinstance(model, Functional)
    layers = model._layers if functional else model.layers
    if functional:
        line_length_default, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        align = ["left", "left", "right", "left"]
    else:
        line_length_default, positions = 88, positions or [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        align = ["left", "left", "right"]
    if show_trainable:
        line_length_default += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        align.append("center")
    line_length = line_length or min(line_length_default, shutil.get_terminal_size().columns - 4)
    requested, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        requested.append(width)
        current += width
    widths = _fit_widths([w + 2 for w in requested], line_length)

    def connections(layer):
        parts = []
        for node in layer._inbound_nodes:
            if functional and not any(node is n for n in model._nodes):
                continue
            for t in node.input_tensors:
                src, node_index, tensor_index = t._keras_history
                parts.append(f"{src.name}[{node_index}][{tensor_index}]")
        return ", ".join(parts) or "-"

    def fields(layer, prefix=""):
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = [f"{prefix}{layer.name} ({type(layer).__name__})", _shape_text(layer), params]
        if functional:
            row.append(connections(layer))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return row

    def rows_of(layer, level=0):
        rows = [fields(layer, "   " * level + "└ " if level else "")]
        if expand_nested and getattr(layer, "layers", None):
            for sub in layer.layers:
                rows += rows_of(sub, level + 1)
        return rows

    start, stop = 0, len(layers)
    if layer_range is not None:
        names = [l.name for l in layers]
        start, stop = names.index(layer_range[0]), names.index(layer_range[1]) + 1
    rows = [r for layer in layers[start:stop] for r in rows_of(layer)]
    trainable, non_trainable = model.trainable_weights, model.non_trainable_weights
    optimizer_vars = list(getattr(model.optimizer, "variables", []) or []) if model.compiled and model.optimizer else []
    total = _count(trainable) + _count(non_trainable) + _count(optimizer_vars)
    total_bytes = _bytes(trainable) + _bytes(non_trainable) + _bytes(optimizer_vars)
    text = [f'Model: "{model.name}"', _render_table(header, rows, widths, align),
            f" Total params: {total:,} ({_readable_size(total_bytes)})",
            f" Trainable params: {_count(trainable):,} ({_readable_size(_bytes(trainable))})",
            f" Non-trainable params: {_count(non_trainable):,} ({_readable_size(_bytes(non_trainable))})"]
    if optimizer_vars:
        text.append(f" Optimizer params: {_count(optimizer_vars):,} ({_readable_size(_bytes(optimizer_vars))})")
    if print_fn is None:
        print("\n".join(text))
    else:
        print_fn("\n".join(text) + "\n")
