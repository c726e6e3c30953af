"""Label tokens in the exact rerank context, on real tokenizers."""

from pathlib import Path

import pytest

from agent.ranking.labels import LabelTokenError, candidate_labels, chat_prompt, check_chat_labels, label_token_ids

MESSAGES = [{"role": "system", "content": "Rank."}, {"role": "user", "content": "(A) x\n(B) y\nWhich?"}]


@pytest.fixture(scope="module")
def smol_tokenizer(smollm2_dir: Path):
    """The real SmolLM2 tokenizer (tests/conftest.py: skipped only when its package is absent)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smollm2_dir))


def test_candidate_labels():
    assert candidate_labels(3) == ["A", "B", "C"]
    assert len(candidate_labels(26)) == 26
    with pytest.raises(ValueError):
        candidate_labels(0)
    with pytest.raises(ValueError):
        candidate_labels(27)


def test_smollm2_all_labels_single_tokens(smol_tokenizer):
    ids = check_chat_labels(smol_tokenizer, MESSAGES, candidate_labels(26))
    assert len(set(ids.values())) == 26
    assert smol_tokenizer.convert_ids_to_tokens(ids["C"]) == "C"
    prompt = chat_prompt(smol_tokenizer, MESSAGES)
    assert prompt.endswith("<|im_start|>assistant\nAnswer: (")


def test_smollm2_rejects_context_that_merges(smol_tokenizer):
    # after a trailing space the tokenizer merges " A" into one token: the prompt tokens change
    with pytest.raises(LabelTokenError) as err:
        label_token_ids(smol_tokenizer, "Answer: ", ["A", "B"])
    assert set(err.value.offending) == {"A", "B"}
    assert "'A'" in str(err.value)


class MergingTokenizer:
    """Like Qwen: "(C" is one token, so "C" after "(" changes the prompt's last token."""

    vocab = {"Answer:": 1, " ": 2, "(": 3, "(C": 4, "A": 5, "B": 6, "C": 7, "AB": 8}

    def encode(self, text, add_special_tokens=False):
        out, i = [], 0
        keys = sorted(self.vocab, key=len, reverse=True)
        while i < len(text):
            for k in keys:
                if text.startswith(k, i):
                    out.append(self.vocab[k])
                    i += len(k)
                    break
            else:
                raise ValueError(text[i])
        return out

    def convert_ids_to_tokens(self, ids):
        inv = {v: k for k, v in self.vocab.items()}
        return [inv[i] for i in ids]


def test_merge_across_boundary_is_reported():
    with pytest.raises(LabelTokenError) as err:
        label_token_ids(MergingTokenizer(), "Answer: (", ["A", "B", "C"])
    assert list(err.value.offending) == ["C"]
    assert err.value.offending["C"] == ["(C"]
    assert label_token_ids(MergingTokenizer(), "Answer: (", ["A", "B"]) == {"A": 5, "B": 6}


def test_duplicate_labels_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        label_token_ids(MergingTokenizer(), "(", ["A", "A"])


@pytest.mark.slow
def test_qwen_labels_single_tokens_in_context():
    try:
        from agent.llm.assets import resolve_llm

        path = Path(resolve_llm("qwen2.5-coder-0.5b-instruct"))
    except Exception as exc:  # assets module missing or model not installed
        pytest.skip(f"Qwen 0.5B not available: {exc}")
    from transformers import AutoTokenizer

    if path.is_file():  # a GGUF file
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    else:
        tok = AutoTokenizer.from_pretrained(str(path))
    # "(C" is one Qwen token: ending the prompt with "Answer:" would give "(C"-style tokens,
    # but after the prefill "Answer: (" the bare letters are single tokens.
    assert len(tok.encode("(C", add_special_tokens=False)) == 1
    ids = check_chat_labels(tok, MESSAGES, candidate_labels(20))
    assert len(set(ids.values())) == 20
