import pytest

from prompts import PromptError, placeholders, render, template_names


def test_templates_shipped():
    assert {"rerank_system", "rerank_user", "explain_system", "explain_user"} <= set(template_names())


def test_render_fills_placeholders():
    text = render("rerank_user", context="CTX", candidates="(A) x", last_label="A")
    assert "CTX" in text and "(A) x" in text and "$" not in text
    assert text.index("CTX") < text.index("<candidates>")  # conversation first, candidates last


def test_missing_value_is_a_clear_error():
    with pytest.raises(PromptError) as err:
        render("rerank_user", context="x", candidates="y")
    assert "last_label" in str(err.value) and "rerank_user" in str(err.value)


def test_unexpected_value_is_an_error():
    with pytest.raises(PromptError, match="unexpected"):
        render("rerank_system", contxt="typo")


def test_unknown_template_and_bad_name():
    with pytest.raises(PromptError, match="no prompt template"):
        render("does_not_exist")
    with pytest.raises(PromptError, match="invalid"):
        render("../pyproject")


def test_values_are_not_substituted_recursively():
    text = render("rerank_user", context="$candidates ${last_label}", candidates="C", last_label="B")
    assert "$candidates ${last_label}" in text


def test_placeholders():
    assert placeholders("explain_user") == {"context", "items", "item_ids"}
    assert placeholders("rerank_system") == set()
