"""ferrograd.utils.tensorboard: what SummaryWriter writes, read back with TensorBoard's own
EventAccumulator (scalars, histograms, images, text, hparams, PR curves, projector files), the
TFRecord framing against tensorboard's RecordWriter, crash safety, and the Keras callback."""
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from tensorboard.summary.writer.record_writer import RecordWriter

import ferrograd as torch
import ferrograd.nn as nn
from ferrograd import _core
from ferrograd.utils.tensorboard import SummaryWriter
from ferrograd.utils.tensorboard._keras_callback import TensorBoard
import helpers


def load(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def event_files(run_dir):
    return sorted(p for p in os.listdir(run_dir) if p.startswith("events.out.tfevents."))


def png_pixels(image_event):
    return np.asarray(Image.open(io.BytesIO(image_event.encoded_image_string)))


# ------------------------------------------------------------------------------ against PyTorch

def test_summaries_equal_pytorchs():
    """The protos PyTorch 2.15's torch.utils.tensorboard.summary builds for the same inputs
    (tests/data/torch_tensorboard_summaries.json, made once with PyTorch; not a dependency)."""
    import base64
    from tensorboard.compat.proto.summary_pb2 import Summary
    from ferrograd.utils.tensorboard import _summary
    ref = json.loads((pathlib.Path(__file__).parent / "data" / "torch_tensorboard_summaries.json").read_text())
    rng = np.random.default_rng(0)
    values, labels, predictions = rng.normal(size=300), rng.integers(0, 2, 100), rng.uniform(size=100)
    ours = {
        "histogram_tensorflow_bins": _summary.histogram("h", torch.tensor(values), _summary.tensorflow_bins()),
        "histogram_30_bins_max_7": _summary.histogram("h", values, 30, max_bins=7),
        "text": _summary.text("notes", "**bold** ✓"),
        "pr_curve_127": _summary.pr_curve("pr", labels, torch.tensor(predictions), 127),
        "pr_curve_weighted_11": _summary.pr_curve("pr", labels, predictions, 11, weights=np.linspace(0, 1, 100)),
    }
    for name, summary in ours.items():
        assert summary == Summary.FromString(base64.b64decode(ref[name])), name


# ------------------------------------------------------------------------------ framing

def test_tfrecord_framing_matches_tensorboards_record_writer():
    records = [b"", b"x", bytes(range(256)) * 3, b"event bytes"]
    buf = io.BytesIO()
    writer = RecordWriter(buf)
    for r in records:
        writer.write(r)
    assert _core.tfrecord_frame(records) == buf.getvalue()


# ------------------------------------------------------------------------------ scalars

def test_scalars_with_steps_and_wall_times(tmp_path):
    values = [0.5, np.float32(0.25), np.array(2.0), torch.tensor(3.5), torch.tensor([[7.0]]), 11]
    with SummaryWriter(tmp_path) as w:
        for step, v in enumerate(values):
            w.add_scalar("loss", v, step * 10, walltime=1000.0 + step)
        w.add_scalar("no_step", 1.5)
        before = time.time()
        w.add_scalar("now", 2.5, 3)
    events = load(tmp_path).Scalars("loss")
    assert [e.step for e in events] == [0, 10, 20, 30, 40, 50]
    assert [e.wall_time for e in events] == [1000.0 + i for i in range(6)]
    np.testing.assert_array_equal([e.value for e in events], np.float32([0.5, 0.25, 2.0, 3.5, 7.0, 11]))
    acc = load(tmp_path)
    assert acc.Scalars("no_step")[0].step == 0
    now = acc.Scalars("now")[0]
    assert now.step == 3 and before - 1 <= now.wall_time <= time.time()


def test_new_style_and_double_precision_scalars(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("f32", 1 / 3, 1, new_style=True)
        w.add_scalar("f64", 1 / 3, 1, new_style=True, double_precision=True)
    acc = load(tmp_path)
    assert acc.Tensors("f32")[0].tensor_proto.float_val == [np.float32(1 / 3)]
    assert acc.Tensors("f64")[0].tensor_proto.double_val == [1 / 3]


@pytest.mark.parametrize("bad", [np.zeros(3), torch.zeros(2, 2), [1.0, 2.0]])
def test_add_scalar_refuses_non_scalars(tmp_path, bad):
    with SummaryWriter(tmp_path) as w:
        if isinstance(bad, list):
            with pytest.raises(NotImplementedError, match="list"):
                w.add_scalar("x", bad)
            return
        with pytest.raises(ValueError, match=r"shape \((3,|2, 2)\)"):
            w.add_scalar("x", bad)


def test_add_scalars_writes_one_run_per_key(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalars("run/loss", {"train": step, "val": 2 * step}, step)
    for key, scale in (("train", 1), ("val", 2)):
        events = load(tmp_path / f"run_loss_{key}").Scalars("run/loss")
        assert [(e.step, e.value) for e in events] == [(s, scale * s) for s in range(3)]


@helpers.needs_gpu
def test_gpu_tensors_are_logged(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("gpu", torch.tensor(1.25, device="gpu"), 0)
        w.add_histogram("gpu_h", torch.arange(10.0, device="gpu"), 0, bins=5)
    acc = load(tmp_path)
    assert acc.Scalars("gpu")[0].value == 1.25
    assert acc.Histograms("gpu_h")[0].histogram_value.num == 10


# ------------------------------------------------------------------------------ histograms

def test_histogram_buckets_match_numpy(tmp_path):
    values = np.random.default_rng(0).normal(size=1000)
    edges = np.linspace(-5, 5, 21)
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("h", torch.tensor(values), 7, bins=edges)
    (event,) = load(tmp_path).Histograms("h")
    h = event.histogram_value
    counts, _ = np.histogram(values, edges)
    nz = np.flatnonzero(counts)
    # buckets from one before the first non-empty bucket to the last non-empty one
    assert list(h.bucket) == counts[nz[0] - 1:nz[-1] + 1].tolist()
    assert list(h.bucket_limit) == edges[nz[0]:nz[-1] + 2].tolist()
    assert event.step == 7 and h.num == 1000
    assert h.min == values.min() and h.max == values.max()
    np.testing.assert_allclose([h.sum, h.sum_squares], [values.sum(), values @ values])


def test_histogram_default_tensorflow_bins(tmp_path):
    values = np.array([-3.0, 0.001, 0.5, 0.5, 2.0, 100.0], dtype=np.float32)
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("h", values, 0)
        w.add_histogram("coarse", values, 0, max_bins=30)
    acc = load(tmp_path)
    h = acc.Histograms("h")[0].histogram_value
    limits = np.array(h.bucket_limit)
    assert sum(h.bucket) == 6 and np.all(np.diff(limits) > 0)
    # a bucket holds [previous limit, its limit): each value's bucket is non-empty, and the
    # limits are TensorFlow's edges, a ratio of 1.1 apart
    for v in values:
        i = np.searchsorted(limits, v, side="right")
        assert h.bucket[i] > 0 and limits[i - 1] <= v < limits[i]
    assert h.bucket[0] == 0
    ratios = limits[limits > 1e-6][1:] / limits[limits > 1e-6][:-1]
    np.testing.assert_allclose(ratios, 1.1)
    coarse = acc.Histograms("coarse")[0].histogram_value
    assert sum(coarse.bucket) == 6 and len(coarse.bucket) < len(h.bucket)


def test_raw_histogram_raw_pr_curve_and_custom_scalars(tmp_path):
    from tensorboard.plugins.custom_scalar import layout_pb2
    with SummaryWriter(tmp_path) as w:
        w.add_histogram_raw("raw", min=0.5, max=3.0, num=6, sum=9.5, sum_squares=20.25,
                            bucket_limits=torch.tensor([1.0, 2.0, 3.0]), bucket_counts=[1, 2, 3], global_step=2)
        w.add_pr_curve_raw("pr", [3, 2], [1, 0], [0, 1], [0, 1], [0.75, 1.0], [1.0, 2 / 3], 5, num_thresholds=2)
        w.add_custom_scalars_marginchart(["loss", "low", "high"], category="c", title="m")
        with pytest.raises(ValueError, match=r"bucket_limits \(2,\) and bucket_counts \(3,\)"):
            w.add_histogram_raw("bad", 0, 1, 3, 1, 1, [1, 2], [1, 1, 1])
    acc = load(tmp_path)
    h = acc.Histograms("raw")[0]
    assert h.step == 2 and list(h.histogram_value.bucket) == [1, 2, 3] and h.histogram_value.sum == 9.5
    pr = acc.Tensors("pr")[0]
    assert pr.step == 5 and [d.size for d in pr.tensor_proto.tensor_shape.dim] == [6, 2]
    np.testing.assert_allclose(pr.tensor_proto.float_val, [3, 2, 1, 0, 0, 1, 0, 1, 0.75, 1, 1, 2 / 3], rtol=1e-6)
    layout = layout_pb2.Layout.FromString(acc.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    series = layout.category[0].chart[0].margin.series[0]
    assert (layout.category[0].title, series.value, series.lower, series.upper) == ("c", "loss", "low", "high")


def test_histogram_refuses_empty_and_nan(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match=r"no element \(shape \(0, 3\)\)"):
            w.add_histogram("h", np.zeros((0, 3)))
        with pytest.raises(ValueError, match="NaN"):
            w.add_histogram("h", np.array([1.0, np.nan]))


# ------------------------------------------------------------------------------ images

def test_images_sizes_and_pixels(tmp_path):
    rng = np.random.default_rng(1)
    chw = rng.uniform(size=(3, 5, 7)).astype(np.float32)
    hwc_uint8 = rng.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    grey = rng.uniform(size=(1, 4, 4))
    batch = rng.uniform(size=(10, 3, 2, 3))
    with SummaryWriter(tmp_path) as w:
        w.add_image("chw", torch.tensor(chw), 1)
        w.add_image("hwc", hwc_uint8, 2, dataformats="HWC")
        w.add_image("grey", grey, 3)
        w.add_image("hw", grey[0], 4, dataformats="HW")
        w.add_images("batch", batch, 5)
        w.add_images("nhwc", batch.transpose(0, 2, 3, 1), 5, dataformats="NHWC")
    acc = load(tmp_path)

    def pixels(tag):
        (event,) = acc.Images(tag)
        img = png_pixels(event)
        assert (event.height, event.width) == img.shape[:2]
        return img

    np.testing.assert_array_equal(pixels("chw"), (chw.transpose(1, 2, 0) * 255).astype(np.uint8))
    np.testing.assert_array_equal(pixels("hwc"), hwc_uint8)
    expected_grey = np.repeat((grey[0, :, :, None] * 255).astype(np.float32).astype(np.uint8), 3, axis=2)
    np.testing.assert_array_equal(pixels("grey"), expected_grey)
    np.testing.assert_array_equal(pixels("hw"), expected_grey)
    grid = pixels("batch")
    assert grid.shape == (2 * 2, 8 * 3, 3)            # 8 images a row, two rows
    as_uint8 = (batch.astype(np.float32) * 255).astype(np.uint8)
    np.testing.assert_array_equal(grid[2:4, 3:6], as_uint8[9].transpose(1, 2, 0))
    np.testing.assert_array_equal(grid[2:4, 6:], 0)   # the empty cells of the last row
    np.testing.assert_array_equal(pixels("nhwc"), grid)


@pytest.mark.parametrize("shape,fmt,match", [
    ((2, 8, 8), "CHW", r"shape \(2, 8, 8\).*2 channels"),
    ((8, 8, 5), "HWC", r"shape \(8, 8, 5\).*5 channels"),
    ((3, 8, 8), "NCHW", r"shape \(3, 8, 8\) has 3 dims but dataformats 'NCHW' has 4"),
    ((4, 2, 8, 8), "NCHW", r"shape \(4, 2, 8, 8\).*2 channels"),
    ((3, 8, 8), "CHH", "permutation"),
])
def test_bad_images_raise_value_error_naming_the_shape(tmp_path, shape, fmt, match):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match=match):
            w.add_images("x", np.zeros(shape), dataformats=fmt) if "N" in fmt else w.add_image("x", np.zeros(shape), dataformats=fmt)


def test_add_figure(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(2, 1), dpi=50)
    fig.add_subplot().plot([0, 1], [0, 1])
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 0)
    (event,) = load(tmp_path).Images("fig")
    assert (event.width, event.height) == (100, 50)
    assert not plt.fignum_exists(fig.number)            # close=True closed it
    assert png_pixels(event).std() > 0


# ------------------------------------------------------------------------------ text, audio, hparams, PR curves

def test_text(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_text("notes", "**lr** = 0.1 ✓", 4)
    (event,) = load(tmp_path).Tensors("notes/text_summary")
    assert event.step == 4 and event.tensor_proto.string_val == ["**lr** = 0.1 ✓".encode()]


def test_audio(tmp_path):
    import wave
    samples = np.sin(np.linspace(0, 20, 800))[None]
    with SummaryWriter(tmp_path) as w:
        w.add_audio("a", samples, 0, sample_rate=8000)
    (event,) = load(tmp_path).Audio("a")
    with wave.open(io.BytesIO(event.encoded_audio_string)) as f:
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
        assert f.getframerate() == 8000
    np.testing.assert_array_equal(pcm, (samples[0] * 32767).astype("<i2"))


def test_hparams(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_hparams({"lr": 0.1, "optimizer": "sgd", "nesterov": True, "depth": 3},
                      {"hparam/accuracy": 0.9}, run_name="trial0")
    run = load(tmp_path / "trial0")
    content = run.PluginTagToContent("hparams")
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [h.name for h in experiment.hparam_infos] == ["lr", "optimizer", "nesterov", "depth"]
    assert [m.name.tag for m in experiment.metric_infos] == ["hparam/accuracy"]
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["lr"].number_value == 0.1 and start.hparams["optimizer"].string_value == "sgd"
    assert start.hparams["nesterov"].bool_value is True and start.hparams["depth"].number_value == 3
    assert run.Scalars("hparam/accuracy")[0].value == pytest.approx(0.9)
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(TypeError, match="dictionary"):
            w.add_hparams([("lr", 0.1)], {})


def test_pr_curve_against_thresholds(tmp_path):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=200)
    predictions = rng.uniform(size=200)
    n = 11
    with SummaryWriter(tmp_path) as w:
        w.add_pr_curve("pr", torch.tensor(labels), predictions, 3, num_thresholds=n)
    (event,) = load(tmp_path).Tensors("pr")
    data = np.array(event.tensor_proto.float_val).reshape(6, n)
    above = predictions[None, :] * (n - 1) >= np.arange(n)[:, None]   # prediction >= threshold i / (n - 1)
    tp, fp = (above & (labels == 1)).sum(1), (above & (labels == 0)).sum(1)
    fn, tn = (labels == 1).sum() - tp, (labels == 0).sum() - fp
    np.testing.assert_allclose(data, np.stack([tp, fp, tn, fn, tp / np.maximum(tp + fp, 1e-7), tp / (tp + fn)]), rtol=1e-6)
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
            w.add_pr_curve("pr", np.ones(3), np.ones(4))


# ------------------------------------------------------------------------------ embeddings

def test_embedding_projector_files(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
    mat = np.arange(12, dtype=np.float32).reshape(4, 3) / 8
    images = np.random.default_rng(3).uniform(size=(4, 1, 5, 5))
    with SummaryWriter(tmp_path) as w:
        w.add_embedding(torch.tensor(mat), metadata=["a", "b", "c", "d"], label_img=torch.tensor(images), tag="emb")
        w.add_embedding(mat, metadata=[[1, "x"], [2, "y"], [3, "z"], [4, "w"]], metadata_header=["id", "name"],
                        global_step=2, tag="layer/two")
        with pytest.raises(ValueError, match=r"\[N, D\].*shape \(4, 3, 1\)"):
            w.add_embedding(mat[..., None])
        with pytest.raises(ValueError, match=r"3 metadata labels for 4 points"):
            w.add_embedding(mat, metadata=["a", "b", "c"])
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), ProjectorConfig())
    first, second = config.embeddings
    assert (first.tensor_name, first.tensor_path, first.metadata_path) == ("emb:00000", "00000/emb/tensors.tsv", "00000/emb/metadata.tsv")
    assert first.sprite.image_path == "00000/emb/sprite.png" and list(first.sprite.single_image_dim) == [5, 5]
    assert second.tensor_name == "layer/two:00002" and second.tensor_path == "00002/layer%2ftwo/tensors.tsv"
    assert not second.sprite.image_path
    np.testing.assert_array_equal(np.loadtxt(tmp_path / first.tensor_path, delimiter="\t"), mat)
    assert (tmp_path / first.metadata_path).read_text() == "a\nb\nc\nd\n"
    assert (tmp_path / second.metadata_path).read_text().splitlines()[:2] == ["id\tname", "1\tx"]
    sprite = np.asarray(Image.open(tmp_path / first.sprite.image_path))
    assert sprite.shape == (10, 10, 3)                   # 2x2 images of 5x5
    np.testing.assert_array_equal(sprite[5:, :5, 0], np.uint8(images[2, 0] * 255))


# ------------------------------------------------------------------------------ graph

def test_add_graph_says_graph_capture_is_missing(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(NotImplementedError, match="ferrograd.jit.trace"):
            w.add_graph(nn.Linear(2, 2), torch.zeros(1, 2))


# ------------------------------------------------------------------------------ files: queueing, flushing, crashes

def test_readable_while_written_and_queue_flushes_by_size(tmp_path):
    w = SummaryWriter(tmp_path, max_queue=5, flush_secs=3600)
    try:
        for step in range(12):
            w.add_scalar("x", step, step)
        assert [e.step for e in load(tmp_path).Scalars("x")] == list(range(10))   # two full queues of 5
        w.flush()
        assert len(load(tmp_path).Scalars("x")) == 12
    finally:
        w.close()


def test_add_scalar_from_several_threads(tmp_path):
    import threading
    with SummaryWriter(tmp_path, max_queue=7, flush_secs=0.01) as w:
        def log(tag):
            for step in range(500):
                w.add_scalar(tag, step / 2, step)
        threads = [threading.Thread(target=log, args=(f"t{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    acc = load(tmp_path)
    for i in range(3):
        assert [(e.step, e.value) for e in acc.Scalars(f"t{i}")] == [(s, s / 2) for s in range(500)]


def test_queue_flushes_every_flush_secs(tmp_path):
    with SummaryWriter(tmp_path, max_queue=1000, flush_secs=0.05) as w:
        w.add_scalar("x", 1.0, 0)
        deadline = time.time() + 10
        while not load(tmp_path).Tags()["scalars"] and time.time() < deadline:
            time.sleep(0.02)
        assert load(tmp_path).Tags()["scalars"] == ["x"]


def test_killed_writer_keeps_events_up_to_the_last_flush(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        from ferrograd.utils.tensorboard import SummaryWriter
        w = SummaryWriter({str(tmp_path)!r}, max_queue=100000, flush_secs=3600)
        for step in range(50):
            w.add_scalar("loss", step / 10, step)
        w.flush()
        for step in range(50, 80):
            w.add_scalar("loss", step / 10, step)
        print("flushed", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "flushed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert [e.step for e in load(tmp_path).Scalars("loss")] == list(range(50))


def test_close_context_manager_and_reopen(tmp_path):
    with SummaryWriter(tmp_path, filename_suffix=".v1") as w:
        w.add_scalar("x", 1.0, 0)
    assert w.all_writers is None
    w.close()                                             # a second close is harmless
    w.add_scalar("x", 2.0, 1)                             # after close: a new file, as in PyTorch
    w.close()
    files = event_files(tmp_path)
    assert len(files) == 2 and all(f.endswith(".v1") for f in files)
    assert [(e.step, e.value) for e in load(tmp_path).Scalars("x")] == [(0, 1.0), (1, 2.0)]


def test_purge_step_hides_later_events_of_an_earlier_run(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(10):
            w.add_scalar("x", step, step, walltime=100 + step)
    time.sleep(1.1)  # event file names carry whole seconds; the resumed run's file must sort after
    with SummaryWriter(tmp_path, purge_step=5) as w:
        w.add_scalar("x", 50, 5, walltime=200)
    assert [(e.step, e.value) for e in load(tmp_path).Scalars("x")] == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 50)]


def test_default_log_dir_and_comment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1") as w:
        log_dir = w.get_logdir()
    assert log_dir.startswith("runs" + os.sep) and log_dir.endswith("_lr0.1") and event_files(tmp_path / log_dir)


def test_missing_tensorboard_names_the_viz_extra():
    code = "import sys; sys.modules['tensorboard'] = None\nimport ferrograd.utils.tensorboard"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "pip install 'ferrograd[viz]'" in proc.stderr


# ------------------------------------------------------------------------------ Keras callback

class _Variable:
    def __init__(self, path, value):
        self.path, self.value = path, np.asarray(value, dtype=np.float32)

    def __array__(self, dtype=None, copy=None):
        return self.value


class _Layer:
    def __init__(self, weights):
        self.weights = weights


class _Optimizer:
    def __init__(self):
        self.learning_rate, self.iterations = 0.01, 0


class Sequential:
    """A stand-in for a Keras model: layers with weights, an optimizer and to_json()."""

    def __init__(self):
        self.layers = [_Layer([_Variable("dense/kernel", np.arange(6).reshape(2, 3)), _Variable("dense/bias", [1, 2, 3])])]
        self.optimizer = _Optimizer()

    def to_json(self):
        return json.dumps({"class_name": "Sequential", "config": {"name": "stand_in"}})


def test_keras_callback_hooks_write_keras_tags(tmp_path):
    model = Sequential()
    cb = TensorBoard(log_dir=tmp_path, histogram_freq=1, update_freq=2)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch in range(2):
        cb.on_epoch_begin(epoch)
        for batch in range(3):
            cb.on_train_batch_begin(batch)
            model.optimizer.iterations += 1
            cb.on_train_batch_end(batch, {"loss": 1.0 / (batch + 1), "accuracy": 0.5})
        model.optimizer.learning_rate = 0.005
        cb.on_epoch_end(epoch, {"loss": 0.5 - epoch / 10, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.75})
    cb.on_test_begin()
    cb.on_test_end({"loss": 0.6})
    cb.on_train_end()

    train, val = load(tmp_path / "train"), load(tmp_path / "validation")
    assert [(e.step, e.value) for e in train.Scalars("epoch_loss")] == [(0, 0.5), (1, pytest.approx(0.4))]
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == [pytest.approx(0.005)] * 2
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6]       # every update_freq=2 batches
    assert [e.value for e in train.Scalars("batch_loss")] == [0.5, 1.0, pytest.approx(1 / 3)]
    assert [(e.step, e.value) for e in val.Scalars("epoch_loss")] == [(0, pytest.approx(0.7)), (1, pytest.approx(0.7))]
    assert "epoch_val_loss" not in train.Tags()["scalars"]
    assert [(e.step, e.value) for e in val.Scalars("evaluation_loss_vs_iterations")] == [(6, pytest.approx(0.6))]
    kernel = train.Histograms("dense/kernel/histogram")
    assert [e.step for e in kernel] == [0, 1] and kernel[0].histogram_value.sum == 15
    (graph,) = train.Tensors("keras")
    assert json.loads(graph.tensor_proto.string_val[0])["config"]["name"] == "stand_in"
    assert train.PluginTagToContent("graph_keras_model") == {"keras": b"1"}


def test_keras_callback_epoch_only_and_ferrograd_weights(tmp_path):
    class Model:
        def __init__(self):
            self.net = nn.Linear(3, 2)
            self.trainable_weights = list(self.net.parameters())
            self.optimizer = torch.optim.SGD(self.net.parameters(), lr=0.1)

    cb = TensorBoard(tmp_path, histogram_freq=2, write_graph=True)
    cb.set_model(Model())
    cb.on_train_begin()
    for epoch in range(3):
        cb.on_train_batch_begin(0)
        cb.on_train_batch_end(0, {"loss": 1.0})
        cb.on_epoch_end(epoch, {"loss": 1.0})
    cb.on_train_end()
    train = load(tmp_path / "train")
    assert "batch_loss" not in train.Tags()["scalars"]              # update_freq="epoch"
    assert train.Tags()["tensors"] == []                            # not a Sequential/Functional: no graph
    assert [e.step for e in train.Histograms("weight_0/histogram")] == [0, 2]
    with pytest.raises(ValueError, match="profile_batch"):
        TensorBoard(tmp_path, profile_batch=2)
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(tmp_path, update_freq="sometimes")


# ------------------------------------------------------------------------------ demos

@pytest.mark.parametrize("demo", ["digits", "cnn"])
def test_demo_logs_and_plots(tmp_path, demo):
    log_dir, plot = tmp_path / "runs", tmp_path / "curves.png"
    proc = subprocess.run([sys.executable, "-m", f"ferrograd.examples.{demo}", "--epochs", "1", "--quiet",
                           "--tensorboard", str(log_dir), "--plot", str(plot)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    acc = load(log_dir)
    assert [e.step for e in acc.Scalars("loss/train")] == [0]
    assert [e.step for e in acc.Scalars("loss/train_step")] == list(range(1, -(-1438 // 32) + 1))   # every step
    assert [e.value for e in acc.Scalars("learning_rate")] == [pytest.approx(0.02 if demo == "digits" else 0.05)]
    weights = [t for t in acc.Tags()["histograms"] if t.startswith("weights/")]
    assert "weights/0.weight" in weights and all(len(acc.Histograms(t)) == 1 for t in weights)
    for split in ("train", "test"):
        (accuracy,) = load(log_dir / f"accuracy_{split}").Scalars("accuracy")
        assert 0 < accuracy.value <= 1
    final = float(proc.stdout.split("test accuracy: ")[1].split("%")[0]) / 100   # printed to 0.01 %
    assert load(log_dir / "accuracy_test").Scalars("accuracy")[0].value == pytest.approx(final, abs=5e-5)
    image = np.asarray(Image.open(plot))
    assert image.shape[:2] == (240, 640) and image.std() > 0


def test_missing_matplotlib_names_the_viz_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ImportError, match=r"'matplotlib'.*pip install 'ferrograd\[viz\]'"):
            w.add_figure("fig", object())


def test_keras_callback_weight_images_and_steps_per_second(tmp_path):
    model = Sequential()
    cb = TensorBoard(tmp_path, histogram_freq=1, write_images=True, write_steps_per_second=True, write_graph=False)
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    for batch in range(2):
        cb.on_train_batch_begin(batch)
        model.optimizer.iterations += 1
        cb.on_train_batch_end(batch, {"loss": 1.0})
    cb.on_epoch_end(0, {"loss": 1.0})
    cb.on_train_end()
    train = load(tmp_path / "train")
    # as Keras draws them: the 2x3 kernel as one 2x3 grey image, the bias as a 3x1 column
    (kernel,) = train.Images("dense/kernel/image")
    (bias,) = train.Images("dense/bias/image")
    assert (kernel.height, kernel.width) == (2, 3) and (bias.height, bias.width) == (3, 1)
    np.testing.assert_array_equal(png_pixels(kernel)[..., 0], np.clip(np.arange(6).reshape(2, 3) * 255, 0, 255).astype(np.uint8))
    (rate,) = train.Scalars("epoch_steps_per_second")
    assert rate.value > 0 and train.Tags()["tensors"] == []


def test_keras_fit_with_the_tensorboard_callback(tmp_path):
    from ferrograd import keras
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x.sum(axis=1) > 0).astype(np.int64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = keras.callbacks.TensorBoard(tmp_path, histogram_freq=1, update_freq=2)
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, callbacks=[callback], verbose=0)
    train, val = load(tmp_path / "train"), load(tmp_path / "validation")
    assert [e.value for e in train.Scalars("epoch_loss")] == pytest.approx(history.history["loss"], rel=1e-6)
    assert [e.value for e in val.Scalars("epoch_loss")] == pytest.approx(history.history["val_loss"], rel=1e-6)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.05, 0.05])
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6]                # 3 batches an epoch
    assert [e.step for e in val.Scalars("evaluation_loss_vs_iterations")] == [3, 6]
    histograms = train.Tags()["histograms"]   # layer names count up over the session: dense, dense_1, ...
    assert len(histograms) == 4 and sum(t.endswith("/kernel/histogram") for t in histograms) == 2
    assert train.Tags()["tensors"] == ["keras"]
