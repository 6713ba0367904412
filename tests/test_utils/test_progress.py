"""ProgressLogger: periodic done/total, rate and ETA lines (fake clock, hand-computed values)."""
import logging

import pytest
from mmengine.logging import MMLogger

from sdfn_plugin.utils.progress import ProgressLogger, track_progress


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def logged():
    logger = MMLogger.get_instance('h15a_progress_test')
    handler = _Lines()
    logger.addHandler(handler)
    yield logger, handler.lines
    logger.removeHandler(handler)


def test_lines_every_interval_with_rate_and_eta(logged):
    logger, lines = logged
    now = [100.0]
    p = ProgressLogger('encode gallery', 100, unit='images', interval_s=10, logger=logger, clock=lambda: now[0])
    for t, n in ((105, 10), (120, 30), (125, 20), (150, 30), (155, 10)):
        now[0] = t
        p.update(n)
    p.finish()
    assert lines == [
        'encode gallery: 40/100 images (40%), 2.0 images/s, ETA 0:00:30',  # 40 in 20 s; 60 left at 2/s
        'encode gallery: 90/100 images (90%), 1.8 images/s, ETA 0:00:06',  # 90 in 50 s; 10 / 1.8 = 5.6 s
        'encode gallery: 100 images in 55.0 s, 1.8 images/s',  # no progress line once done: the closing line
    ]


def test_track_progress_counts_units_per_item(logged):
    logger, lines = logged
    now = [0.0]

    def batches():
        for size in (4, 4, 2):
            now[0] += 2.0
            yield list(range(size))

    p = ProgressLogger('feature cache', 10, unit='images', interval_s=0, logger=logger, clock=lambda: now[0])
    assert [len(b) for b in track_progress(batches(), p, count=len)] == [4, 4, 2]
    assert lines == ['feature cache: 4/10 images (40%), 2.0 images/s, ETA 0:00:03',
                     'feature cache: 8/10 images (80%), 2.0 images/s, ETA 0:00:01',
                     'feature cache: 10 images in 6.0 s, 1.7 images/s']
    with pytest.raises(ValueError, match='total must be >= 0'):
        ProgressLogger('x', -1)
