"""Interest profile: filters, summary, form round trip."""

from agent.understanding.profile import Constraints, InterestProfile, ItemRef


def test_profile_filters_summary_and_roundtrip():
    p = InterestProfile(liked_items=[ItemRef("se7en", "Seven (Se7en) (1995)", "Se7en", 90.0)],
                        liked_attributes=["tense"], constraints=Constraints(1990, 1999, [], ["Horror"]), soft=["not too long"])
    f = p.to_filters()
    assert (f.year_min, f.year_max, f.exclude_genres) == (1990, 1999, ("Horror",))
    text = p.summary()
    assert "Seven (Se7en)" in text and "you said" in text and "no Horror" in text and "1990" in text
    assert InterestProfile.from_dict(p.to_dict()) == p
    assert p.to_form()["exclude_genres"] == ["Horror"]
    assert InterestProfile().summary().startswith("I don't know")
