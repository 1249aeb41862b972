"""`SummaryWriter` and `FileWriter`, with the API of `torch.utils.tensorboard`."""
import os
import socket
import threading
import time
from datetime import datetime

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto

from . import _embedding, _summary
from ._event_file import EventFileWriter

__all__ = ["FileWriter", "SummaryWriter"]


class FileWriter:
    """Writes `Event` and `Summary` protos to one event file in `log_dir` (as PyTorch's)."""

    def __init__(self, log_dir, max_queue=10, flush_secs=120, filename_suffix=""):
        self.event_writer = EventFileWriter(str(log_dir), max_queue, flush_secs, filename_suffix)

    def get_logdir(self):
        return self.event_writer.get_logdir()

    def add_event(self, event, step=None, walltime=None):
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_summary(self, summary, global_step=None, walltime=None):
        self.add_event(Event(summary=summary), global_step, walltime)

    def flush(self):
        self.event_writer.flush()

    def close(self):
        self.event_writer.close()


def _scalar_event_template():
    """An Event holding one simple_value scalar, refilled by each add_scalar of a thread:
    setting four fields and serializing costs ~0.5 us, building the protos anew ~3.5 us."""
    event = Event(summary=Summary(value=[Summary.Value(simple_value=0.0)]))
    return event, event.summary.value[0]


class SummaryWriter:
    """Writes entries to event files in `log_dir` for TensorBoard, as `torch.utils.tensorboard.SummaryWriter`.

    `log_dir` defaults to `runs/<Mon><DD>_<HH-MM-SS>_<host><comment>`. Events are queued and
    written once `max_queue` are pending, every `flush_secs`, on `flush()` and on `close()`
    (also at interpreter exit); the file is readable by TensorBoard while it grows. Usable as a
    context manager, which closes it.
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self._scalar_templates = threading.local()
        self._projector_config = None
        self._get_file_writer()
        self.default_bins = _summary.tensorflow_bins()

    def _get_file_writer(self):
        """The main FileWriter; a new one (a new file) if the writer was closed."""
        if self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                # TensorBoard drops the events at or after this step that earlier files hold
                self.file_writer.add_event(Event(step=self.purge_step, file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=self.purge_step, session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self):
        return self.log_dir

    # ---------------------------------------------------------------- scalars

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        """Logs one number (a Python/numpy number or a one-element tensor); ValueError naming
        the shape for anything with more elements."""
        value = float(scalar_value) if type(scalar_value) in (float, int) else _summary.scalar_value(scalar_value)
        if new_style:
            self._get_file_writer().add_summary(_new_style_scalar(tag, value, double_precision), global_step, walltime)
            return
        try:
            event, slot = self._scalar_templates.simple
        except AttributeError:
            event, slot = self._scalar_templates.simple = _scalar_event_template()
        event.wall_time = time.time() if walltime is None else walltime
        event.step = 0 if global_step is None else int(global_step)
        slot.tag = tag
        slot.simple_value = value
        (self.file_writer or self._get_file_writer()).event_writer.add_serialized(event.SerializeToString())

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Logs several numbers on one chart: each key goes to its own run `<log_dir>/<main_tag>_<key>`."""
        walltime = time.time() if walltime is None else walltime
        root = self._get_file_writer().get_logdir()
        for tag, value in tag_scalar_dict.items():
            run = root + "/" + main_tag.replace("/", "_") + "_" + tag
            writer = self.all_writers.get(run)
            if writer is None:
                writer = self.all_writers[run] = FileWriter(run, self.max_queue, self.flush_secs, self.filename_suffix)
            summary = Summary(value=[Summary.Value(tag=main_tag, simple_value=_summary.scalar_value(value, "add_scalars"))])
            writer.add_summary(summary, global_step, walltime)

    def add_custom_scalars(self, layout):
        """A custom-scalars layout: `{category: {chart title: ["Multiline" | "Margin", [tags]]}}`."""
        self._get_file_writer().add_summary(_summary.custom_scalars(layout))

    def add_custom_scalars_multilinechart(self, tags, category="default", title="untitled"):
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(self, tags, category="default", title="untitled"):
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    # ---------------------------------------------------------------- histograms

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        """A histogram of `values` (a tensor or array of any shape). `bins` is "tensorflow"
        (TensorFlow's exponential buckets) or anything `numpy.histogram` takes."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._get_file_writer().add_summary(_summary.histogram(tag, values, bins, max_bins), global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts,  # noqa: A002
                          global_step=None, walltime=None):
        summary = _summary.histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    # ---------------------------------------------------------------- images, figures, audio, text

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image, [3, H, W] by default (`dataformats` CHW, HWC, HW, ...): float values in [0, 1]
        or uint8 in [0, 255]; 1 channel is grey, 3 RGB, 4 RGBA."""
        self._get_file_writer().add_summary(_summary.image(tag, img_tensor, dataformats, "add_image"), global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images ([N, 3, H, W] by default), tiled into one grid of 8 per row."""
        self._get_file_writer().add_summary(_summary.image(tag, img_tensor, dataformats, "add_images"), global_step, walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib figure (or a list of them) rendered to an image."""
        image = _summary.figure_to_chw(figure, close)
        self.add_image(tag, image, global_step, walltime, dataformats="NCHW" if isinstance(figure, list) else "CHW")

    def add_audio(self, tag, snd_tensor, global_step=None, sample_rate=44100, walltime=None):
        """One channel of samples in [-1, 1], shape (1, L)."""
        self._get_file_writer().add_summary(_summary.audio(tag, snd_tensor, sample_rate), global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Text (Markdown) shown in the Text dashboard, under `<tag>/text_summary`."""
        self._get_file_writer().add_summary(_summary.text(tag, text_string), global_step, walltime)

    # ---------------------------------------------------------------- hparams, PR curves, embeddings

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None, global_step=None):
        """One hyper-parameter run for the HParams dashboard, in the sub-run `run_name` (default:
        the current time) of this writer's log_dir, with the metrics logged there as scalars."""
        experiment, start, end = _summary.hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        run_dir = os.path.join(self._get_file_writer().get_logdir(), run_name or str(time.time()))
        with SummaryWriter(log_dir=run_dir) as run:
            for summary in (experiment, start, end):
                run.file_writer.add_summary(summary, global_step)
            for key, value in metric_dict.items():
                run.add_scalar(key, value, global_step)

    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127, weights=None, walltime=None):
        """A precision-recall curve of binary `labels` against `predictions` in [0, 1]."""
        summary = _summary.pr_curve(tag, labels, predictions, num_thresholds, weights)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_pr_curve_raw(self, tag, true_positive_counts, false_positive_counts, true_negative_counts,
                         false_negative_counts, precision, recall, global_step=None, num_thresholds=127,
                         weights=None, walltime=None):
        summary = _summary.pr_curve_raw(tag, true_positive_counts, false_positive_counts, true_negative_counts,
                                        false_negative_counts, precision, recall, num_thresholds)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default", metadata_header=None):
        """Points `mat` [N, D] for the Projector, with optional labels (`metadata`, one per point,
        or rows matching `metadata_header`) and images `label_img` [N, C, H, W]."""
        step = 0 if global_step is None else global_step
        # PyTorch's escaping: a tag with slashes stays one folder
        escaped = tag.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")
        subdir = f"{str(step).zfill(5)}/{escaped}"
        log_dir = self._get_file_writer().get_logdir()
        images = _embedding.write_embedding(log_dir, subdir, mat, metadata, label_img, metadata_header)
        if self._projector_config is None:
            self._projector_config = _embedding.ProjectorConfig()
        self._projector_config.embeddings.append(
            _embedding.embedding_info(tag, step, subdir, metadata is not None, images))
        _embedding.write_config(log_dir, self._projector_config)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        raise NotImplementedError(
            "SummaryWriter.add_graph draws the graph that ferrograd.jit.trace captures, and ferrograd has no "
            "graph capture yet (the static-graph issue); nothing was written")

    # ---------------------------------------------------------------- lifetime

    def flush(self):
        """Writes every queued event to disk."""
        for writer in (self.all_writers or {}).values():
            writer.flush()

    def close(self):
        """Flushes and closes every event file; a later add_* opens a new file."""
        for writer in (self.all_writers or {}).values():
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()


def _new_style_scalar(tag, value, double_precision):
    """A scalar in the `tensor` field with the scalars plugin's metadata (PyTorch's new_style)."""
    tensor = (TensorProto(double_val=[value], dtype="DT_DOUBLE") if double_precision
              else TensorProto(float_val=[value], dtype="DT_FLOAT"))
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    return Summary(value=[Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])
