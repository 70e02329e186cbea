"""One order for "best" everywhere: value, then fewer epochs, then the trial id.

In deep_ga_cartpole several GA runs reach the same elite score (500): the results table's top
row, the method's summary line and `searchlab show` named three different trials as best.
"""

from __future__ import annotations

from searchlab.methods.base import TrialRequest, TrialResult
from searchlab.methods.deep_ga.method import summarize
from searchlab.results import StudyResult, TrialRow, best_first, rank_rows
from searchlab.show import best_table, ranked

# elite scores: three runs tie at 500; "c2" got there in fewer generations; "a1" and "b7" tie
# on generations too, so the trial id decides between them
RUNS = [("b7", 500.0, 12), ("zz", 480.0, 5), ("a1", 500.0, 12), ("c2", 500.0, 9),
        ("d4", 500.0, 30)]


def _rows() -> list[TrialRow]:
    return [TrialRow(t, "completed", v, e, {"seed": i}) for i, (t, v, e) in enumerate(RUNS)]


def test_value_then_fewer_epochs_then_trial_id():
    order = best_first(RUNS, "max", value=lambda r: r[1], epochs=lambda r: r[2],
                       trial_id=lambda r: r[0])
    assert [r[0] for r in order] == ["c2", "a1", "b7", "d4", "zz"]
    low = best_first(RUNS, "min", value=lambda r: r[1], epochs=lambda r: r[2],
                     trial_id=lambda r: r[0])
    assert [r[0] for r in low] == ["zz", "c2", "a1", "b7", "d4"]
    nan = [("n", float("nan"), 1), ("k", None, 1), ("ok", 1.0, 1)]
    assert best_first(nan, "max", value=lambda r: r[1], epochs=lambda r: r[2],
                      trial_id=lambda r: r[0]) == [("ok", 1.0, 1)]


def test_the_table_the_summary_line_and_show_name_the_same_best_trial():
    from rich.console import Console

    rows = _rows()
    for shuffled in (rows, rows[::-1], rows[2:] + rows[:2]):
        # the results table (`searchlab run`) and `searchlab show` share best_table/ranked
        console = Console(width=200, record=True)
        console.print(best_table(shuffled, "elite_score", "max", "t"))
        first_row = [line for line in console.export_text().splitlines() if "│" in line][0]
        assert first_row.split("│")[1].strip() == "c2", first_row
        assert ranked(shuffled, "max")[0].trial_id == "c2"
        result = StudyResult("s", "elite_score", "max", shuffled, 0.0, None, None, None, ".")
        assert result.best.trial_id == "c2"
        # the method's summary line, from the results it was told (in another order)
        told = [TrialResult(r.trial_id, TrialRequest({"seed": r.config["seed"]}, 50),
                            "completed", {"elite_score": r.value, "epoch": float(r.epochs)},
                            [{"elite_score": r.value}] * r.epochs) for r in shuffled]
        assert "best run: trial c2 " in summarize(told).text
    assert [r.trial_id for r in rank_rows(rows, "max")] == ["c2", "a1", "b7", "d4", "zz"]
