"""A photo's credit at the head of a text is not the agency's dateline: extraction keeps captions, and
"Photographer/AP/Shutterstock" read as a TASS-style dateline ("МОСКВА, 12 сентября. /ТАСС/.") credited an
outlet's own article to the agency whose photo it carried."""

from __future__ import annotations

import pytest

from monitor.dedupe.agency import detect_agency

TEXT = "The president said on Monday that the talks would resume next week in Geneva."


@pytest.mark.parametrize(
    "caption",
    [
        "Evan Vucci/AP/Shutterstock",
        "Ludovic Marin/AFP/Getty Images",
        "J. Scott Applewhite/AP/Shutterstock",
        "Максим Шеметов/ТАСС/",
    ],
)
def test_a_photo_credit_at_the_head_is_not_a_dateline(caption):
    assert detect_agency(f"{caption}\n{TEXT}") is None


@pytest.mark.parametrize(
    "dateline, agency",
    [
        ("МОСКВА, 12 сентября. /ТАСС/. Россия заявила", "TASS"),
        ("MOSCOW, September 12. /TASS/. Russia said", "TASS"),
        ("МОСКВА, 12 сентября. /ИТАР-ТАСС/. Россия заявила", "TASS"),
    ],
)
def test_a_dateline_in_slashes_after_the_date_still_credits_the_agency(dateline, agency):
    found = detect_agency(dateline)
    assert found is not None and found.agency == agency and found.where == "dateline"


def test_xinhua_is_credited_by_its_dated_cable_not_by_any_electric_word():
    # A Xinhua dateline ends with the date and 电 ("cable"); 电视 (television) after the name is no dateline.
    assert detect_agency("新华社北京9月12日电 外交部发言人说").agency == "Xinhua"
    assert detect_agency("新华社电视台报道了会谈。" * 3) is None
