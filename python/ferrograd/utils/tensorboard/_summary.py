"""Builders of tensorboard `Summary` protos (images, histograms, text, hparams, PR curves, ...)
from ferrograd tensors or numpy arrays, following `torch.utils.tensorboard.summary`.

Shapes are checked here, and a bad one raises ValueError naming it.
"""
import io
import numbers

import numpy as np
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

from ..._core import Tensor
from .._optional import require


def to_numpy(x):
    """A numpy array of `x` (a tensor on any device, an array, or a Python/numpy number)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, (numbers.Number, np.generic)):
        return np.array([x])
    raise NotImplementedError(f"Got {type(x).__name__}, but a numpy array or a ferrograd tensor is expected.")


def _values(x):
    """Like to_numpy, and lists too (the raw histogram and PR-curve arguments)."""
    return np.asarray(x) if isinstance(x, (list, tuple)) else to_numpy(x)


def scalar_value(value, what="add_scalar"):
    """`value` as a Python float; ValueError naming the shape unless it holds one element."""
    if isinstance(value, (float, int)):
        return float(value)
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{what}: expected a scalar (one element), got a tensor of shape {tuple(value.shape)}")
        return float(value.item())
    arr = to_numpy(value)
    if arr.size != 1:
        raise ValueError(f"{what}: expected a scalar (one element), got a value of shape {tuple(arr.shape)}")
    return float(arr.reshape(()))


def _tensor_proto(dtype, values, shape, field="float_val"):
    return TensorProto(dtype=dtype, tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=s) for s in shape]),
                       **{field: values})


def _plugin_metadata(name, content=b""):
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=name, content=content))


# ------------------------------------------------------------------------------ histograms

def tensorflow_bins():
    """TensorFlow's default histogram edges: +-1e-12 growing by 10% below 1e20, and 0 (built by
    repeated multiplication, as PyTorch does, so the edges are the same floats)."""
    limits, v = [], 1e-12
    while v < 1e20:
        limits.append(v)
        v *= 1.1
    return [-x for x in reversed(limits)] + [0.0] + limits


def histogram(tag, values, bins, max_bins=None):
    arr = to_numpy(values)
    if arr.size == 0:
        raise ValueError(f"add_histogram({tag!r}): the input has no element (shape {tuple(arr.shape)})")
    values = arr.astype(np.float64).reshape(-1)
    if not np.isfinite(values).all():
        raise ValueError(f"add_histogram({tag!r}): the input holds NaN or infinite values")
    counts, limits = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        group = len(counts) // max_bins
        counts = np.pad(counts, (0, -len(counts) % group)).reshape(-1, group).sum(axis=1)
        limits = np.concatenate([limits[:-1:group], limits[-1:]])
    # Keep the buckets from the first to the last non-empty one, plus the empty bucket left of
    # the first (TensorBoard draws each bucket from the previous limit).
    nonzero = np.flatnonzero(counts)
    start, end = int(nonzero[0]), int(nonzero[-1]) + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    hist = HistogramProto(min=values.min(), max=values.max(), num=values.size, sum=values.sum(),
                          sum_squares=values.dot(values), bucket_limit=limits.tolist(), bucket=counts.tolist())
    return Summary(value=[Summary.Value(tag=tag, histo=hist)])


def histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts):  # noqa: A002 (PyTorch's names)
    limits, counts = _values(bucket_limits), _values(bucket_counts)
    if limits.shape != counts.shape or limits.ndim != 1:
        raise ValueError(f"add_histogram_raw({tag!r}): bucket_limits {tuple(limits.shape)} and bucket_counts "
                         f"{tuple(counts.shape)} must be 1-D of the same length")
    hist = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares,
                          bucket_limit=limits.tolist(), bucket=counts.tolist())
    return Summary(value=[Summary.Value(tag=tag, histo=hist)])


# ------------------------------------------------------------------------------ images

def _grid(images, ncols=8):
    """[N, C, H, W] images tiled into one [C, H * rows, W * cols] canvas, row-major."""
    n, c, h, w = images.shape
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    padded = np.zeros((nrows * ncols, c, h, w), dtype=images.dtype)
    padded[:n] = images
    return padded.reshape(nrows, ncols, c, h, w).transpose(2, 0, 3, 1, 4).reshape(c, nrows * h, ncols * w)


def to_hwc(image, dataformats, what="add_image"):
    """An image (or a batch, tiled into a grid) as [H, W, C] with C in (3, 4), from `dataformats`
    (a permutation of CHW, HWC, HW, NCHW, NHWC, ...)."""
    fmt = str(dataformats).upper()
    shape = tuple(image.shape)
    if len(set(fmt)) != len(fmt) or set(fmt) - set("NCHW") or not {"H", "W"} <= set(fmt):
        raise ValueError(f"{what}: dataformats must be a permutation of NCHW, CHW, HWC, HW, ...; got {dataformats!r}")
    if image.ndim != len(fmt):
        raise ValueError(f"{what}: image of shape {shape} has {image.ndim} dims but dataformats {fmt!r} has {len(fmt)}")
    if "C" not in fmt:
        image, fmt = image[..., np.newaxis], fmt + "C"
    image = image.transpose([fmt.index(d) for d in ("NCHW" if "N" in fmt else "CHW")])
    channels = image.shape[-3]
    if channels not in (1, 3, 4):
        raise ValueError(f"{what}: image of shape {shape} with dataformats {str(dataformats).upper()!r} has "
                         f"{channels} channels; expected 1 (grey), 3 (RGB) or 4 (RGBA)")
    if image.ndim == 4:
        image = _grid(image)
    if channels == 1:
        image = np.concatenate([image] * 3, axis=0)
    return image.transpose(1, 2, 0)


def _png(hwc_uint8):
    pil = require("PIL.Image", "pillow")
    with io.BytesIO() as buf:
        pil.fromarray(hwc_uint8).save(buf, format="PNG")
        return buf.getvalue()


def image(tag, img, dataformats, what="add_image"):
    arr = to_numpy(img)
    hwc = to_hwc(arr, dataformats, what)
    scale = 1 if arr.dtype == np.uint8 else 255
    pixels = (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    h, w, c = pixels.shape
    proto = Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=_png(pixels))
    return Summary(value=[Summary.Value(tag=tag, image=proto)])


def figure_to_chw(figures, close=True):
    """Renders a matplotlib figure (or a list of them) to uint8 [3, H, W] (or [N, 3, H, W])."""
    plt = require("matplotlib.pyplot", "matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def render(figure):
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        if close:
            plt.close(figure)
        return rgba[:, :, :3].transpose(2, 0, 1).copy()

    if isinstance(figures, list):
        return np.stack([render(f) for f in figures])
    return render(figures)


# ------------------------------------------------------------------------------ text, audio

def text(tag, text_string):
    metadata = _plugin_metadata("text", TextPluginData(version=0).SerializeToString())
    tensor = _tensor_proto("DT_STRING", [str(text_string).encode("utf-8")], [1], field="string_val")
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=metadata, tensor=tensor)])


def audio(tag, sound, sample_rate):
    import wave
    arr = to_numpy(sound).squeeze()
    if arr.ndim != 1:
        raise ValueError(f"add_audio({tag!r}): expected one channel of samples, shape (1, L) or (L,); got "
                         f"{tuple(to_numpy(sound).shape)}")
    pcm = (np.clip(arr, -1, 1) * np.iinfo(np.int16).max).astype("<i2")
    with io.BytesIO() as buf:
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())
        encoded = buf.getvalue()
    proto = Summary.Audio(sample_rate=sample_rate, num_channels=1, length_frames=pcm.shape[-1],
                          encoded_audio_string=encoded, content_type="audio/wav")
    return Summary(value=[Summary.Value(tag=tag, audio=proto)])


# ------------------------------------------------------------------------------ hparams

def hparams(hparam_dict, metric_dict, hparam_domain_discrete=None):
    """The Experiment, SessionStartInfo and SessionEndInfo summaries of TensorBoard's hparams plugin."""
    from tensorboard.plugins.hparams import metadata
    from tensorboard.plugins.hparams.api_pb2 import DataType, Experiment, HParamInfo, MetricInfo, MetricName, Status
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo, SessionStartInfo

    if type(hparam_dict) is not dict or type(metric_dict) is not dict:
        raise TypeError("hparam_dict and metric_dict should be dictionary.")
    hparam_domain_discrete = hparam_domain_discrete or {}
    if not isinstance(hparam_domain_discrete, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
    for k, v in hparam_domain_discrete.items():
        if k not in hparam_dict or not isinstance(v, list) or not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(f"parameter: hparam_domain_discrete[{k}] should be a list of same type as hparam_dict[{k}].")

    start = SessionStartInfo()
    infos = []
    for k, v in hparam_dict.items():
        if v is None:
            continue
        if isinstance(v, Tensor):
            v = float(to_numpy(v).reshape(-1)[0])
        # bool before number: bool is an int subclass, and TensorBoard has a bool type for it
        for kind, field, dtype in ((bool, "bool_value", "DATA_TYPE_BOOL"), ((int, float), "number_value", "DATA_TYPE_FLOAT64"),
                                   (str, "string_value", "DATA_TYPE_STRING")):
            if isinstance(v, kind):
                setattr(start.hparams[k], field, v)
                domain = None
                if k in hparam_domain_discrete:
                    domain = struct_pb2.ListValue(values=[struct_pb2.Value(**{field: d}) for d in hparam_domain_discrete[k]])
                infos.append(HParamInfo(name=k, type=DataType.Value(dtype), domain_discrete=domain))
                break
        else:
            raise ValueError(f"hparam {k!r}: value should be one of int, float, str, bool, or a tensor; got {type(v).__name__}")

    def summary(tag, **content):
        data = HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **content).SerializeToString()
        return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata(metadata.PLUGIN_NAME, data))])

    experiment = Experiment(hparam_infos=infos, metric_infos=[MetricInfo(name=MetricName(tag=k)) for k in metric_dict])
    return (summary(metadata.EXPERIMENT_TAG, experiment=experiment),
            summary(metadata.SESSION_START_INFO_TAG, session_start_info=start),
            summary(metadata.SESSION_END_INFO_TAG, session_end_info=SessionEndInfo(status=Status.Value("STATUS_SUCCESS"))))


# ------------------------------------------------------------------------------ PR curves

_MAX_THRESHOLDS = 127  # TensorBoard's PR-curve plugin reads at most 127 thresholds


def _pr_summary(tag, data, num_thresholds):
    content = PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString()
    tensor = _tensor_proto("DT_FLOAT", data.reshape(-1).tolist(), data.shape)
    return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata("pr_curves", content), tensor=tensor)])


def pr_curve(tag, labels, predictions, num_thresholds=127, weights=None):
    """TP, FP, TN, FN, precision and recall at `num_thresholds` evenly spaced thresholds in [0, 1]."""
    labels, predictions = to_numpy(labels), to_numpy(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"add_pr_curve({tag!r}): labels of shape {tuple(labels.shape)} and predictions of shape "
                         f"{tuple(predictions.shape)} differ")
    num_thresholds = min(int(num_thresholds), _MAX_THRESHOLDS)
    weights = 1.0 if weights is None else to_numpy(weights)
    buckets = np.floor(predictions.astype(np.float64) * (num_thresholds - 1)).astype(np.int32)
    positive = labels.astype(np.float64)
    edges = dict(bins=num_thresholds, range=(0, num_thresholds - 1))
    tp_buckets, _ = np.histogram(buckets, weights=positive * weights, **edges)
    fp_buckets, _ = np.histogram(buckets, weights=(1.0 - positive) * weights, **edges)
    tp = np.cumsum(tp_buckets[::-1])[::-1]
    fp = np.cumsum(fp_buckets[::-1])[::-1]
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return _pr_summary(tag, np.stack((tp, fp, tn, fn, precision, recall)), num_thresholds)


def pr_curve_raw(tag, tp, fp, tn, fn, precision, recall, num_thresholds=127):
    data = np.stack([_values(a).astype(np.float64) for a in (tp, fp, tn, fn, precision, recall)])
    return _pr_summary(tag, data, min(int(num_thresholds), _MAX_THRESHOLDS))


# ------------------------------------------------------------------------------ custom scalars

def custom_scalars(layout):
    categories = []
    for category, charts in layout.items():
        protos = []
        for title, (kind, tags) in charts.items():
            if kind == "Margin":
                if len(tags) != 3:
                    raise ValueError(f"custom scalars: a Margin chart takes 3 tags (value, lower, upper), got {len(tags)}")
                series = layout_pb2.MarginChartContent.Series(value=tags[0], lower=tags[1], upper=tags[2])
                protos.append(layout_pb2.Chart(title=title, margin=layout_pb2.MarginChartContent(series=[series])))
            else:
                protos.append(layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=tags)))
        categories.append(layout_pb2.Category(title=category, chart=protos))
    data = layout_pb2.Layout(category=categories).SerializeToString()
    tensor = TensorProto(dtype="DT_STRING", string_val=[data], tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=tensor,
                                        metadata=_plugin_metadata("custom_scalars"))])
