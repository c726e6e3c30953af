"""eval.train.llm_ranker (LoRA on the verbalizer prompt, LlamaRec's recipe) with SmolLM2-135M on toy
data (user n watches items 3n, 3n+1, ... in time order; EASE is the source): the examples, the
loss, pause and resume, the published adapter in the engine, and the ``ease+llm-lora`` pipeline.
LoRA on the top 2 layers only and 4 candidates keep every test to a few forward passes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.ranking.labels import DEFAULT_PREFILL
from eval.train.llm_ranker_examples import PromptBuilder, RankExample
from eval.splits import leave_one_out
from eval.train.llm_ranker import (LLMRankerTraining, label_logits, load_llm_ranker, lora_model, prepare_examples,
                                   publish_adapter, train_llm_ranker, verbalizer_loss)

from tests.eval.helpers import toy_dataset

pytest.importorskip("peft", reason="pip install 'recchat[train]'")

LLM = "smollm2-135m-instruct"
TINY = LLMRankerTraining(llm=LLM, dataset="toy", source="ease", candidates=4, history_items=2, lora_top_layers=2,
                         grad_accum=1, max_steps=3, val_users=2, eval_every=3, warmup_steps=0, lr=5e-3,
                         max_length=1024, seed=0)


@pytest.fixture(scope="module")
def builders(smollm2_dir: Path) -> dict[str, PromptBuilder]:
    """One prompt builder per layout, over the same engine (its weights are never loaded)."""
    from agent.llm.transformers_engine import TransformersEngine

    engine = TransformersEngine(smollm2_dir)
    return {layout: PromptBuilder(engine, toy_dataset().item_map, candidates=4, history_items=2, layout=layout)
            for layout in ("titles", "inline", "split")}


@pytest.fixture(scope="module")
def builder(builders: dict[str, PromptBuilder]) -> PromptBuilder:
    """The builder of TINY's layout: the default one, ``titles``."""
    assert TINY.layout == "titles" == LLMRankerTraining.model_fields["layout"].default
    return builders[TINY.layout]


@pytest.fixture(scope="module")
def runs(smollm2_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """The same settings trained twice: in one sitting, and paused after step 1 then resumed."""
    whole, split = tmp_path_factory.mktemp("whole"), tmp_path_factory.mktemp("split")
    train_llm_ranker(TINY, whole, progress=False, data=toy_dataset())
    first = train_llm_ranker(TINY, split, max_minutes=0, progress=False, data=toy_dataset())
    assert first["status"] == "paused" and first["steps"] == 1
    train_llm_ranker(TINY, split, progress=False, data=toy_dataset())
    return {"whole": whole, "split": split}


def test_examples_keep_in_list_targets_and_never_read_test_items(builder: PromptBuilder) -> None:
    data = toy_dataset()
    ex = prepare_examples(TINY, data, builder)
    val_split = {c.user_id: c for c in leave_one_out(data.interactions, "validation").cases}
    test_split = {c.user_id: c for c in leave_one_out(data.interactions, "test").cases}
    assert ex.train and ex.counts["examples"] == len(ex.train) == len(ex.train_tokens)
    assert not {e.user_id for e in ex.train} & {e.user_id for e in ex.val}  # held-out users never trained on
    for e in ex.train:
        assert e.target in e.candidates and e.target_index is not None  # only in-list targets
        assert e.target == val_split[e.user_id].target != test_split[e.user_id].target
        assert test_split[e.user_id].target not in e.history and not set(e.candidates) & set(e.history)
    # the test items (each user's last interaction) are never read: change them all, same examples
    last = data.interactions.groupby("user_id")["timestamp"].transform("max") == data.interactions["timestamp"]
    poisoned = data.interactions.copy()
    poisoned.loc[last, "item_id"] = "m59"
    redone = prepare_examples(TINY, type(data)(**{**data.__dict__, "interactions": poisoned}), builder)
    assert [(e.user_id, e.history, e.target) for e in redone.train] == [(e.user_id, e.history, e.target)
                                                                          for e in ex.train]


@pytest.mark.parametrize("layout", ["titles", "inline", "split"])
def test_prompt_is_the_verbalizer_prompt_with_one_token_labels(builders: dict[str, PromptBuilder],
                                                               layout: str) -> None:
    builder = builders[layout]
    example = RankExample("u", ("m01", "m02", "m03"), ("m10", "m11", "m12", "m13"), "m12")
    ids, labels = builder.encode(example)
    text = builder.engine.tokenizer.decode(ids)
    assert text.endswith(DEFAULT_PREFILL) and "(D) Movie 13" in text and "(E)" not in text
    if layout == "titles":  # history: one title per line; candidates: title - genres
        assert "<history>\nMovie 2\nMovie 3\n</history>" in text and "Movie 1\n" not in text
        assert "(D) Movie 13 - Drama\n</candidates>" in text and "User: Based on my history" in text
    else:
        assert "- Movie 2;" in text and "- Movie 3;" in text and "- Movie 1;" not in text  # the 2 newest items
    assert len(labels) == 4 == len(set(labels)) and example.target_index == 2
    # the trainer's prompt is the ranker's: VerbalizerRanker with this layout sends exactly these messages
    from agent.ranking.rerank import VerbalizerRanker
    from agent.settings import RerankSettings
    from eval.train.llm_ranker_examples import ranker_context
    from retrieval.candidates import Candidate

    items = toy_dataset().item_map
    ranker = VerbalizerRanker(builder.engine, RerankSettings(max_candidates=4, rerank_layout=layout))
    cands = [Candidate(items[i], 0.0, r) for r, i in enumerate(example.candidates)]
    sent = ranker.messages(ranker_context([items["m02"], items["m03"]]), cands, pool=cands)
    assert sent == builder.messages(example)
    assert ids == builder.engine.encode_chat(sent, DEFAULT_PREFILL)


def test_titles_prompt_is_the_shortest(builders: dict[str, PromptBuilder]) -> None:
    example = RankExample("u", tuple(f"m{k:02d}" for k in range(20)), ("m30", "m31", "m32", "m33"), "m32")
    counts = {layout: len(b.encode(example)[0]) for layout, b in builders.items()}
    assert counts["titles"] < counts["inline"] and counts["titles"] < counts["split"], counts


def test_loss_decreases_on_a_tiny_overfit_set(smollm2_dir: Path, builder: PromptBuilder) -> None:
    import torch

    # two prompts whose answer is (C): three steps fit them (telling prompts apart takes more steps)
    examples = [RankExample("a", ("m01", "m02"), ("m10", "m11", "m12", "m13"), "m12"),
                RankExample("b", ("m20", "m21"), ("m30", "m31", "m32", "m33"), "m32")]
    encoded = [(*builder.encode(e), e.target_index) for e in examples]
    model = lora_model(smollm2_dir, TINY.model_copy(update={"lora_dropout": 0.0}))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(3):
        total = 0.0
        for ids, labels, target in encoded:
            loss = verbalizer_loss(model, ids, labels, target) / len(encoded)
            loss.backward()
            total += float(loss.detach())
        losses.append(total)
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        after = sum(float(verbalizer_loss(model, i, lab, t)) for i, lab, t in encoded) / len(encoded)
    assert losses[0] > 0.5 and after < 0.5 * losses[0], (losses, after)


def test_pause_and_resume_neither_redo_nor_skip_steps(runs: dict[str, Path]) -> None:
    import torch

    logs = {k: [json.loads(line) for line in (p / "log.jsonl").read_text().splitlines()] for k, p in runs.items()}
    steps = [e["step"] for e in logs["split"] if "loss" in e]
    assert steps == [1, 2, 3]  # none redone, none skipped
    assert [e["eval"]["step"] for e in logs["split"] if "eval" in e] == [0, 3]
    for a, b in zip(logs["whole"], logs["split"]):  # same losses and evaluations as one sitting
        assert a.get("loss") == pytest.approx(b.get("loss"), abs=1e-5) and a.get("eval") == b.get("eval")
    states = {k: torch.load(p / "state.pt", weights_only=True) for k, p in runs.items()}
    for name, tensor in states["whole"]["adapter"].items():
        torch.testing.assert_close(tensor, states["split"]["adapter"][name], atol=1e-6, rtol=0)
    report = json.loads((runs["split"] / "report.json").read_text())
    assert report["status"] == "finished" and report["steps"] == 3 and report["examples_seen"] == 3
    assert report["zero_shot"]["step"] == 0 and report["tokens_per_example"]["mean"] > 100
    assert report["train_cpu_s"] > 0 and len(report["loss_curve"]) == 3
    assert (runs["split"] / "adapter_model.safetensors").is_file()


def test_other_settings_refuse_to_resume(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="other settings.*--fresh"):
        train_llm_ranker(TINY.model_copy(update={"lr": 1e-3}), runs["split"], progress=False, data=toy_dataset())


def test_schedule_settings_may_change_on_resume(tmp_path: Path) -> None:
    from eval.train.llm_ranker import _check_settings

    (tmp_path / "training.json").write_text(TINY.model_dump_json())
    (tmp_path / "state.pt").write_bytes(b"")
    _check_settings(tmp_path, TINY.model_copy(update={"eval_every": 7, "max_steps": 9}), fresh=False)
    with pytest.raises(ValueError, match="'grad_accum': \\(1, 2\\)"):
        _check_settings(tmp_path, TINY.model_copy(update={"grad_accum": 2, "eval_every": 7}), fresh=False)


def test_published_adapter_scores_as_in_training(smollm2_dir: Path, builder: PromptBuilder, tmp_path: Path) -> None:
    import torch

    from agent.llm.transformers_engine import TransformersEngine

    example = RankExample("a", ("m01", "m02"), ("m10", "m11", "m12", "m13"), "m12")
    ids, labels = builder.encode(example)
    model = lora_model(smollm2_dir, TINY)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        verbalizer_loss(model, ids, labels, 2).backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    with torch.no_grad():
        trained = label_logits(model, ids, labels).log_softmax(-1).tolist()
    publish_adapter(model, tmp_path)
    engine = TransformersEngine(smollm2_dir, dtype="float32", adapter=tmp_path)
    [scored] = engine.score_choices([builder.messages(example)], list("ABCD"), prefill=DEFAULT_PREFILL)
    assert [scored[k] for k in "ABCD"] == pytest.approx(trained, abs=1e-4)
    assert math.exp(trained[2]) > 0.5  # two steps moved the mass to the target: the adapter matters


def test_ease_llm_lora_pipeline_end_to_end(runs: dict[str, Path], builder: PromptBuilder, tmp_path: Path) -> None:
    from agent.settings import AgentSettings
    from eval.train.llm_ranker_examples import build_examples
    from eval.pipelines import UserRequest
    from eval.runner import prepare, run_eval
    from eval.settings import EvalSettings
    from eval.train.pipelines import TrainedAssets, trained_registry
    from retrieval.ease import EASE

    data = toy_dataset()
    agent = AgentSettings(llm=LLM, backend="transformers", dtype="float32", max_candidates=4)
    settings = EvalSettings(dataset="toy", protocol="full", split="validation", pipelines=["ease", "ease+llm-lora"],
                            users=3, seed=0, explain=False, concurrency=1, agent=agent)
    assets = TrainedAssets(llm_ranker=str(runs["split"]))
    # the pipeline sends the training prompt: same candidates, same messages
    prepared = prepare(settings, dataset=data, progress=False)
    pipeline = trained_registry(settings, data, assets).build("ease+llm-lora", prepared.ctx)
    case = prepared.cases[0]
    out = pipeline.recommend(UserRequest(case))
    source = EASE([c.history for c in prepared.split.cases], prepared.ctx.universe, TINY.ease_lambda,
                  TINY.ease_half_life)
    [example] = build_examples([case], source, 4, data.item_map)
    assert sorted(out.ranked[:4]) == sorted(example.candidates) and out.ranked[4:] == [
        i for i in pipeline.sources[0](UserRequest(case), 200) if i not in example.candidates][:len(out.ranked) - 4]
    # the eval ranks with the adapter's layout (titles, the training default), not the agent's (inline)
    assert pipeline.ranker.settings.rerank_layout == "titles" == load_llm_ranker(str(runs["split"])).settings.layout
    assert agent.rerank_layout == "inline"
    sent = pipeline.ranker.engine.calls[-1].messages
    prefill = {"role": "assistant", "content": DEFAULT_PREFILL}
    assert sent == [m.as_dict() for m in builder.messages(example)] + [prefill]
    assert "<history>" in sent[-2]["content"] and "; genres:" not in sent[-2]["content"]  # the titles prompt
    # and the whole harness runs it, recording the adapter it used
    doc = run_eval(settings, tmp_path / "r", registry=trained_registry(settings, data, assets), dataset=data,
                   home=tmp_path, progress=False, write_plots=False)
    assert set(doc["pipelines"]) == {"ease", "ease+llm-lora"}
    assert doc["checkpoints"]["pipelines"]["ease+llm-lora"]["llm_ranker"]["sha256"]
    assert doc["pipelines"]["ease+llm-lora"]["metrics"]["ndcg@10"]["mean"] >= 0


def test_run_must_match_the_adapter(runs: dict[str, Path]) -> None:
    from agent.settings import AgentSettings
    from eval.settings import EvalSettings
    from eval.train.llm_ranker import check_run
    from eval.train.pipelines import TrainedAssets, require_checkpoints

    trained = load_llm_ranker(str(runs["split"]))
    ok = AgentSettings(llm=LLM, max_candidates=4)
    check_run(trained, SimpleNamespace(settings=EvalSettings(dataset="toy", agent=ok)))
    with pytest.raises(ValueError, match="--llm smollm2-135m-instruct"):
        check_run(trained, SimpleNamespace(settings=EvalSettings(dataset="toy", agent=ok.model_copy(
            update={"llm": "qwen2.5-coder-0.5b-instruct"}))))
    with pytest.raises(ValueError, match="MAX_CANDIDATES=4"):
        check_run(trained, SimpleNamespace(settings=EvalSettings(dataset="toy", agent=AgentSettings(llm=LLM))))
    with pytest.raises(ValueError, match="recchat train llm-ranker"):
        require_checkpoints(["ease+llm-lora"], TrainedAssets())
    with pytest.raises(FileNotFoundError, match="recchat train llm-ranker --name nope"):
        load_llm_ranker("nope")


def test_cli_layout_option_defaults_to_titles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from ui.commands_train import register

    seen: list[LLMRankerTraining] = []

    def fake_train(settings: LLMRankerTraining, folder: Path, **_: object) -> dict[str, object]:
        seen.append(settings)
        return {"status": "finished", "steps": 0}

    monkeypatch.setattr("eval.train.llm_ranker.train_llm_ranker", fake_train)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    base = ["train", "llm-ranker", "--name", str(tmp_path / "r")]
    for extra, layout in (([], "titles"), (["--layout", "inline"], "inline"), (["--layout", "split"], "split")):
        res = CliRunner().invoke(app, base + extra)
        assert res.exit_code == 0, res.output
        assert seen[-1].layout == layout
    res = CliRunner().invoke(app, base + ["--layout", "prose"])
    assert res.exit_code == 1 and "layout" in res.output


def test_lora_fusion_is_tuned_on_validation_and_fuses_the_source_scores(runs: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    import shutil

    from agent.ranking.cross_encoder import fuse_scores
    from agent.settings import AgentSettings
    from eval.pipelines import UserRequest
    from eval.runner import prepare
    from eval.settings import EvalSettings
    from eval.train.pipelines import (TEMPERATURES, TrainedAssets, lora_fusion_path, trained_registry,
                                        tune_lora_fusion_on_validation)

    data = toy_dataset()
    adapter = tmp_path / "adapter"
    shutil.copytree(runs["split"], adapter)
    agent = AgentSettings(llm=LLM, backend="transformers", dtype="float32", max_candidates=4)
    settings = EvalSettings(dataset="toy", protocol="full", split="validation", users=3, seed=0, explain=False,
                            concurrency=1, agent=agent, pipelines=["ease+llm-lora", "ease+llm-lora-fused"])
    prepared = prepare(settings, dataset=data, progress=False)
    registry = trained_registry(settings, data, TrainedAssets(llm_ranker=str(adapter)))
    with pytest.raises(ValueError, match="recchat train lora-fusion"):  # not tuned yet: the command to run
        registry.build("ease+llm-lora-fused", prepared.ctx)

    tuning, path = tune_lora_fusion_on_validation("toy", str(adapter), source="ease", protocol="full", users=3,
                                                  agent=agent, data=data, home=tmp_path, progress=False)
    assert path == lora_fusion_path(adapter, "ease", "full") and path.is_file()
    assert tuning.split == "validation" and tuning.source == "ease" and 0 < tuning.users <= 3
    assert 0.0 <= tuning.weight <= 1.0 and tuning.temperature in TEMPERATURES
    assert set(tuning.by_temperature) == {f"{t:g}" for t in TEMPERATURES}
    assert tuning.ndcg_at_10[f"{tuning.weight:g}"] == max(max(g.values()) for g in tuning.by_temperature.values())

    # the fused pipeline: (1 - w) * softmax(EASE scores / T) + w * the adapter's probabilities, one LLM call
    plain, fused = (registry.build(n, prepared.ctx) for n in ("ease+llm-lora", "ease+llm-lora-fused"))
    calls = plain.ranker.engine.calls
    for case in prepared.cases:
        request = UserRequest(case)
        before = len(calls)
        plain_out, fused_out = plain.recommend(request), fused.recommend(request)
        assert len(calls) == before + 1  # the second pipeline reuses the first one's answer
        cands, context = fused.rerank_inputs(request, fused.source_order(request)[:4])
        source = fused.score_model.scores(case.history)
        assert [c.score for c in cands] == pytest.approx([float(source[fused.score_model.pos[c.item.id]])
                                                          for c in cands])
        llm = {x.item.id: x.score for x in plain.ranker.rank(context, cands).ranked}
        mix = fuse_scores([c.score for c in cands], [llm[c.item.id] for c in cands], tuning.weight,
                          tuning.temperature)
        expect = [cands[i].item.id for i in sorted(range(len(cands)), key=lambda i: (-mix[i], i))]
        assert fused_out.ranked[:4] == expect and fused_out.ranked[4:] == plain_out.ranked[4:]
    assert "weight" in fused.models["lora_fusion"]

    # retrained adapter: the tuning no longer applies
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    with pytest.raises(ValueError, match="retrained since"):
        trained_registry(settings, data, TrainedAssets(llm_ranker=str(adapter))).build("ease+llm-lora-fused",
                                                                                        prepared.ctx)


def test_lora_fusion_cli_says_what_is_wrong(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from ui.commands_train import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    res = CliRunner().invoke(app, ["train", "lora-fusion", "--llm-ranker", "x", "--protocol", "conversation"])
    assert res.exit_code == 1 and "--protocol must be sampled or full" in res.output
    res = CliRunner().invoke(app, ["train", "lora-fusion", "--llm-ranker", str(tmp_path / "nope"), "--dataset", "toy"])
    assert res.exit_code == 1 and "recchat train llm-ranker" in res.output  # no adapter: the command that trains one
