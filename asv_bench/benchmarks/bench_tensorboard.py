"""`SummaryWriter.add_scalar`: microseconds per call over CALLS consecutive calls into one event
file, with the default max_queue=10 (so every tenth call also writes the queued events), for a
Python float and for a 0-d tensor. Target: at most 5 us per call for a float."""
import shutil
import tempfile
import time

import ferrograd as torch

CALLS = 100_000


class AddScalar:
    params = [["float", "0-d tensor"]]
    param_names = ["value"]

    def setup(self, value):
        from ferrograd.utils.tensorboard import SummaryWriter
        self.log_dir = tempfile.mkdtemp(prefix="ferrograd-tb-bench-")
        self.writer = SummaryWriter(self.log_dir)
        self.value = 0.5 if value == "float" else torch.tensor(0.5)

    def teardown(self, value):
        self.writer.close()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def time_add_scalar(self, value):
        self.writer.add_scalar("loss", self.value, 1)

    def track_us_per_call(self, value):
        """Average over CALLS calls with increasing steps, in microseconds."""
        add, v = self.writer.add_scalar, self.value
        start = time.perf_counter()
        for step in range(CALLS):
            add("loss", v, step)
        return (time.perf_counter() - start) / CALLS * 1e6
    track_us_per_call.unit = "us"
