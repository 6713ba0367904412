"""Progress of long loops as periodic log lines (done/total, rate, ETA) on rank 0.

Used where a Runner spends minutes outside its iteration logging: building a
feature cache, encoding an evaluation gallery. Log lines (not mmengine's
``ProgressBar``, which redraws one terminal line with carriage returns) so the
progress also lands readably in the run's log file::

    feature cache <digest>: <done>/<total> images (<percent>%), <rate> images/s, ETA <h:mm:ss>
"""
import datetime
import time
from typing import Callable, Iterable, Iterator, Optional, TypeVar

from mmengine.dist import get_rank
from mmengine.logging import print_log

__all__ = ['ProgressLogger', 'track_progress']

T = TypeVar('T')


class ProgressLogger:
    """Log ``task: done/total unit (pct), rate unit/s, ETA h:mm:ss`` at most every ``interval_s`` seconds.

    Args:
        task: what is being done, the start of every line.
        total: number of units expected (images, gallery items...).
        unit: name of the unit.
        interval_s: minimum seconds between two progress lines (the first one
            comes after ``interval_s`` too; short loops log only the final line).
        logger: mmengine logger name or instance (``'current'``: the Runner's).
        clock: seconds counter (tests pass a fake one).

    Only rank 0 logs; other ranks count silently.
    """

    def __init__(self, task: str, total: int, unit: str = 'items', interval_s: float = 10.0,
                 logger: str = 'current', clock: Callable[[], float] = time.monotonic) -> None:
        if total < 0:
            raise ValueError(f'total must be >= 0, got {total}')
        if interval_s < 0:
            raise ValueError(f'interval_s must be >= 0, got {interval_s}')
        self.task, self.total, self.unit = task, total, unit
        self.interval_s, self.logger, self.clock = interval_s, logger, clock
        self.done = 0
        self.enabled = get_rank() == 0
        self.start = self._last = clock()

    def _log(self, msg: str) -> None:
        if self.enabled:
            print_log(msg, logger=self.logger)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units; log a line when ``interval_s`` has passed since the last one."""
        self.done += n
        now = self.clock()
        if now - self._last < self.interval_s or self.done >= self.total:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = datetime.timedelta(seconds=round((self.total - self.done) / rate)) if rate > 0 else '?'
        pct = 100.0 * self.done / self.total if self.total else 100.0
        self._log(f'{self.task}: {self.done}/{self.total} {self.unit} ({pct:.0f}%), '
                  f'{rate:.1f} {self.unit}/s, ETA {eta}')

    def finish(self) -> None:
        """The closing line: units, seconds, mean rate."""
        elapsed = self.clock() - self.start
        rate = f', {self.done / elapsed:.1f} {self.unit}/s' if elapsed > 0 else ''
        self._log(f'{self.task}: {self.done} {self.unit} in {elapsed:.1f} s{rate}')


def track_progress(items: Iterable[T], progress: ProgressLogger,
                   count: Optional[Callable[[T], int]] = None) -> Iterator[T]:
    """Yield ``items``, counting ``count(item)`` units each (default 1), then log the closing line."""
    for item in items:
        yield item
        progress.update(1 if count is None else count(item))
    progress.finish()
