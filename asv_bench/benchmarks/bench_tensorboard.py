"""`SummaryWriter.add_scalar`: microseconds per call over CALLS consecutive calls into one event
file, with the default max_queue=10 (so every tenth call also writes the queued events), for a
Python float and for a 0-d tensor. Target: at most 5 us per call for a float. Wall time and the
process's CPU time (the writer's flush thread included): on a shared machine the first counts
the time other processes hold the cores, the second does not."""
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

    def _per_call(self, clock):
        add, v = self.writer.add_scalar, self.value
        start = clock()
        for step in range(CALLS):
            add("loss", v, step)
        return (clock() - start) / CALLS * 1e6

    def track_us_per_call(self, value):
        """Wall time, averaged over CALLS calls with increasing steps, in microseconds."""
        return self._per_call(time.perf_counter)
    track_us_per_call.unit = "us"

    def track_cpu_us_per_call(self, value):
        """CPU time of this process, averaged over CALLS calls, in microseconds."""
        return self._per_call(time.process_time)
    track_cpu_us_per_call.unit = "us"
