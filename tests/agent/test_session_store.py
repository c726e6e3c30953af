"""SQLite session store: save/load/list/export/delete, fresh objects, bad URLs."""

import json

import pytest

from agent.profile import InterestProfile, ItemRef
from agent.session import Session
from agent.session_store import SessionStore
from agent.types import Feedback, Turn


def test_roundtrip_list_export_delete(tmp_path):
    store = SessionStore(f"sqlite:///{tmp_path}/s.db")
    s = Session(user_id="u1", catalog="c", turns=[Turn("user", "hi")], profile=InterestProfile(),
                feedback=[Feedback("x", "not_this")])
    s.profile.like_item(ItemRef("a", "A (1990)"))
    store.save(s)
    again = SessionStore(str(tmp_path / "s.db")).load(s.id)
    assert again is not s and again.to_dict() == s.to_dict()
    assert [i.id for i in store.list()] == [s.id] and store.list(user_id="nobody") == []
    assert json.loads(store.export(s.id))["profile"]["liked_items"][0]["item_id"] == "a"
    assert store.delete(s.id) and not store.delete(s.id)
    with pytest.raises(KeyError):
        store.load(s.id)


def test_unsupported_url(tmp_path):
    with pytest.raises(ValueError, match="sqlite"):
        SessionStore("postgresql://db/x")
