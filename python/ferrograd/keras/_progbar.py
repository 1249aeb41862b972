"""Keras's progress bar: `12/45 ━━━━━━━━━━━━━━━━━━━━ 0s 3ms/step - accuracy: 0.9 - loss: 0.3`
(verbose=1, redrawn at most every 50 ms) or one line when done (verbose=2)."""
import math
import sys
import time


def _format_time(seconds_per_unit, unit_name):
    if seconds_per_unit >= 1 or seconds_per_unit == 0:
        return f" {seconds_per_unit:.0f}s/{unit_name}"
    if seconds_per_unit >= 1e-3:
        return f" {seconds_per_unit * 1e3:.0f}ms/{unit_name}"
    return f" {seconds_per_unit * 1e6:.0f}us/{unit_name}"


def _format_value(value):
    if isinstance(value, (int, float)):
        return f" {value:.4f}" if abs(value) > 1e-3 else f" {value:.4e}"
    return f" {value}"


class Progbar:
    def __init__(self, target, width=20, verbose=1, interval=0.05, unit_name="step"):
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self._values = {}
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_width = 0
        # Keras redraws in place wherever "posix" is importable (so also into pipes and files);
        # colours only go to a terminal
        self._tty = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
        self._dynamic = self._tty or "posix" in sys.modules or "ipykernel" in sys.modules

    def due(self):
        return time.time() - self._last_update >= self.interval

    def _step_time(self, current, now):
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            return (now - self._time_after_first_step) / (current - 1)
        return (now - self._start) / current

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for k, v in values or []:
            self._values[k] = v
        now = time.time()
        if current == 1:
            self._time_after_first_step = now
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return   # most steps: nothing to draw, so no step time to estimate
            per_step = self._step_time(current, now)
            if self.target:
                digits = int(math.log10(self.target)) + 1
                done = int(self.width * current / self.target)
                bar = f"{current:{digits}d}/{self.target} " + "━" * self.width
                if self._tty:
                    bar = (f"\x1b[1m{current:{digits}d}/{self.target}\x1b[0m \x1b[32m{'━' * done}\x1b[0m"
                           f"\x1b[37m{'━' * (self.width - done)}\x1b[0m")
            else:
                bar = f"{current:7d}/Unknown"
            if self.target and not finalize:
                eta = per_step * (self.target - current)
                if eta > 3600:
                    eta_text = f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
                elif eta > 60:
                    eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}"
                else:
                    eta_text = f"{int(eta)}s"
                info = f" {eta_text}"
            else:
                info = f" {now - self._start:.0f}s"
            info += _format_time(per_step, self.unit_name)
            for k, v in self._values.items():
                info += f" - {k}:{_format_value(v)}"
            line = bar + info
            width = len(line)
            message = ("\r" if self._dynamic else ("" if self._last_update == 0 else "\n")) + line
            if self._prev_width > width:
                message += " " * (self._prev_width - width)
            if finalize:
                message += "\n"
            sys.stdout.write(message)
            sys.stdout.flush()
            self._prev_width = width
        elif self.verbose == 2 and finalize and self.target:
            per_step = self._step_time(current, now)
            digits = int(math.log10(self.target)) + 1
            info = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -{_format_time(per_step, self.unit_name)}"
            for k, v in self._values.items():
                info += f" - {k}:{_format_value(v)}"
            sys.stdout.write(info + "\n")
            sys.stdout.flush()
        self._last_update = now
