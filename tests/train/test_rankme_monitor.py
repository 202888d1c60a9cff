"""The RankMe monitor's ring buffer keeps the newest training features."""

import pytest
import torch

from byolbench.eval.rankme import rankme
from byolbench.train.rankme_monitor import RankMeMonitor


def test_ring_buffer_keeps_the_newest_rows_and_readings_are_due_every_n_steps():
    monitor = RankMeMonitor(samples=10, every=4)
    assert not monitor.due(4, 100)  # nothing buffered yet
    rows = torch.arange(36, dtype=torch.float32).view(18, 2)
    for start in range(0, 18, 3):
        monitor.observe([rows[start : start + 3]])
    kept = {tuple(r) for r in monitor._buffer.tolist()}
    assert kept == {tuple(r) for r in rows[8:].tolist()}
    assert monitor.due(4, 100) and monitor.due(8, 100) and not monitor.due(5, 100)
    assert monitor.due(7, 7)  # the last step always reads
    assert monitor.read() == pytest.approx(rankme(rows[8:]))  # row order differs


def test_views_of_one_batch_are_both_kept():
    monitor = RankMeMonitor(samples=100, every=1)
    monitor.observe([torch.randn(8, 4), torch.randn(8, 4)])
    assert monitor._filled == 16
