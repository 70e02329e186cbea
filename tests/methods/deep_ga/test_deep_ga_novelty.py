"""Novelty on hand-worked points, and the reward/novelty mix."""

from __future__ import annotations

import numpy as np

from searchlab.methods.deep_ga.novelty import Archive, novelty, ranks, selection_score


def test_knn_novelty_on_a_line() -> None:
    points = np.array([[0.0], [1.0], [3.0]])
    archive = np.array([[10.0]])
    # k=1: nearest other point: 1, 1, 2
    np.testing.assert_allclose(novelty(points, archive, 1), [1.0, 1.0, 2.0])
    # k=2: {1, 3} -> 2; {1, 2} -> 1.5; {2, 3} -> 2.5
    np.testing.assert_allclose(novelty(points, archive, 2), [2.0, 1.5, 2.5])
    # k=3 brings in the archive point: (1+3+10)/3, (1+2+9)/3, (2+3+7)/3
    np.testing.assert_allclose(novelty(points, archive, 3), [14 / 3, 4.0, 4.0])


def test_novelty_in_two_dimensions() -> None:
    points = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(novelty(points, np.zeros((0, 2)), 5), [5.0, 5.0])


def test_selection_mix() -> None:
    reward = np.array([1.0, 5.0, 3.0])
    nov = np.array([9.0, 0.0, 1.0])
    np.testing.assert_array_equal(selection_score(reward, nov, 0.0), reward)
    np.testing.assert_array_equal(selection_score(reward, nov, 1.0), nov)
    np.testing.assert_allclose(ranks(reward), [0.0, 1.0, 0.5])
    # w = 0.5: (rank reward + rank novelty) / 2 = [0.5, 0.5, 0.5] -> a three-way tie
    np.testing.assert_allclose(selection_score(reward, nov, 0.5), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(selection_score(reward, nov, 0.25), [0.25, 0.75, 0.5])


def test_archive_grows() -> None:
    a = Archive(2)
    a.add(np.ones((3, 2)))
    a.add(np.zeros((0, 2)))
    assert len(a) == 3
