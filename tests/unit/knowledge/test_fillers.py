from __future__ import annotations

import pytest

from switchboard_knowledge.fillers import strip_fillers


@pytest.mark.parametrize(
    ("spoken", "kept"),
    [
        ("um, are you guys open on saturdays", "are you guys open on saturdays"),
        ("hi, yeah, so uh do you take credit card", "do you take credit card"),
        ("how much is it to, um, like, start the implant", "how much is it to, start the implant"),
        ("okay, well, I was wondering, is there parking", "is there parking"),
        ("you know, the red thing, er, what is it", "the red thing, what is it"),
    ],
)
def test_fillers_leave_the_question(spoken: str, kept: str) -> None:
    assert strip_fillers(spoken) == kept


@pytest.mark.parametrize(
    "meaningful",
    ["is the right side of the tray removable", "do you open well before nine"],
)
def test_opening_words_that_carry_meaning_mid_question_stay(meaningful: str) -> None:
    assert strip_fillers(meaningful) == meaningful


def test_a_question_of_nothing_but_fillers_comes_back_as_it_was() -> None:
    assert strip_fillers("um, uh, okay") == "um, uh, okay"
