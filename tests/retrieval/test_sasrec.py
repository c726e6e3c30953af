"""retrieval.sasrec: the network learns an order, scores do not depend on padding, saved models round-trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retrieval.sasrec import SASRec, SASRecConfig, SASRecNet, left_pad, resolve_sasrec

IDS = [f"m{k}" for k in range(12)]


def cyclic_model(steps: int = 150) -> SASRec:
    """A small SASRec trained on sequences where item k is always followed by item k+1 (mod 12)."""
    torch.manual_seed(0)
    net = SASRecNet(SASRecConfig(n_items=len(IDS), dim=32, heads=2, maxlen=8, dropout=0.0))
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        rows = [[(s + t) % len(IDS) + 1 for t in range(int(rng.integers(2, 9)))] for s in rng.integers(0, 12, 32)]
        length = max(map(len, rows)) - 1
        inp, tgt = left_pad([r[:-1] for r in rows], length), left_pad([r[1:] for r in rows], length)
        live = tgt > 0
        loss = torch.nn.functional.cross_entropy(net.item_logits(net(inp)[live]), tgt[live] - 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return SASRec(net, IDS)


@pytest.fixture(scope="module")
def model() -> SASRec:
    return cyclic_model()


def test_learns_the_next_item_of_a_sequence(model: SASRec) -> None:
    assert model.top(["m3", "m4", "m5"], 1) == ["m6"]
    assert model.top(["m10", "m11"], 1) == ["m0"]  # wraps around: an order, not a popularity
    assert "m5" not in model.top(["m3", "m4", "m5"], 11)  # history masked


def test_scores_do_not_depend_on_batch_padding(model: SASRec) -> None:
    alone = model.scores(["m1", "m2"])
    batched = model.scores_batch([["m1", "m2"], ["m3", "m4", "m5", "m6", "m7", "m8", "m9"]])
    np.testing.assert_allclose(alone, batched[0], atol=1e-5)


def test_history_is_cut_to_maxlen_and_unknown_ids_skipped(model: SASRec) -> None:
    long = [IDS[k % 12] for k in range(30)]
    np.testing.assert_allclose(model.scores(long), model.scores(long[-8:]), atol=1e-5)
    np.testing.assert_allclose(model.scores(["m1", "nope", "m2"]), model.scores(["m1", "m2"]), atol=1e-5)
    assert not model.scores(["nope"]).any()  # nothing known: all zeros, not an error


def test_save_load_round_trip(model: SASRec, tmp_path) -> None:
    model.save(tmp_path / "m")
    again = SASRec.load(resolve_sasrec(str(tmp_path / "m")))
    assert again.ids == IDS and again.net.cfg == model.net.cfg
    np.testing.assert_allclose(again.scores(["m4", "m5"]), model.scores(["m4", "m5"]), atol=1e-6)


def test_missing_model_names_the_training_command(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="recchat train sasrec --name nothing"):
        resolve_sasrec("nothing", home=tmp_path)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="missing ids.json, model.pt"):
        SASRec.load(tmp_path / "half")


def test_heads_must_divide_the_width() -> None:
    with pytest.raises(ValueError, match="multiple of the head count"):
        SASRecNet(SASRecConfig(n_items=3, dim=30, heads=4))


def test_chat_finds_the_catalogs_model_only_when_trained(model: SASRec, tmp_path) -> None:
    from retrieval.sasrec import find_sequence_model, sasrec_dir

    assert find_sequence_model("auto", "films", tmp_path) is None  # nothing trained: the chat runs without
    assert find_sequence_model(None, "films", tmp_path) is None and find_sequence_model("", "films", tmp_path) is None
    model.save(sasrec_dir("sasrec-films", tmp_path))
    assert find_sequence_model("auto", "films", tmp_path) == sasrec_dir("sasrec-films", tmp_path)
    assert find_sequence_model("auto", "other", tmp_path) is None  # another catalog's model is not used
    with pytest.raises(FileNotFoundError, match="recchat train sasrec --name absent"):
        find_sequence_model("absent", "films", tmp_path)  # named explicitly: missing is an error


def test_ensemble_averages_log_probabilities(model: SASRec, tmp_path) -> None:
    from retrieval.sasrec import SASRecEnsemble, describe, load_sasrec

    torch.manual_seed(1)
    untrained = SASRec(SASRecNet(SASRecConfig(n_items=len(IDS), dim=32, heads=2, maxlen=8)), IDS)
    both = SASRecEnsemble([model, untrained])
    s, a, b = both.scores(["m3", "m4"]), model.scores(["m3", "m4"]), untrained.scores(["m3", "m4"])
    logp = lambda x: x - np.log(np.exp(x - x.max()).sum()) - x.max()  # noqa: E731
    np.testing.assert_allclose(s, (logp(a.astype(np.float64)) + logp(b.astype(np.float64))) / 2, atol=1e-5)
    assert both.top(["m3", "m4"], 1) == ["m5"]  # the trained member's sure answer survives the average
    assert not both.scores(["unknown"]).any()  # a history no member knows: zeros, as one model gives
    assert describe(both).count("SASRec {") == 2
    with pytest.raises(ValueError, match="same items"):
        SASRecEnsemble([model, SASRec(SASRecNet(SASRecConfig(n_items=3, dim=8, maxlen=4)), ["a", "b", "c"])])
    model.save(tmp_path / "one")
    untrained.save(tmp_path / "two")
    loaded, files = load_sasrec(f"{tmp_path / 'one'}, {tmp_path / 'two'}")
    assert isinstance(loaded, SASRecEnsemble) and files == [tmp_path / "one" / "model.pt", tmp_path / "two" / "model.pt"]
    single, files = load_sasrec(str(tmp_path / "one"))
    assert isinstance(single, SASRec) and len(files) == 1
