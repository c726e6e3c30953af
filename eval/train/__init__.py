"""Training and tuning on the evaluation splits: SASRec (:mod:`eval.train.sasrec`), the
cross-encoder ranker (:mod:`eval.train.ranker`), the LoRA LLM ranker and its examples
(:mod:`eval.train.llm_ranker`, :mod:`eval.train.llm_ranker_examples`), the retriever
(:mod:`eval.train.retriever`), the chat's fusion weights (:mod:`eval.train.chat_fusion`),
EASE/behaviour tuning (:mod:`eval.train.behaviour`), and the evaluation pipelines built on the
trained models (:mod:`eval.train.pipelines`).

Training sits inside ``eval`` because it trains on the evaluation's own splits and is judged by
its protocols (validation users, the runner); nothing in the rest of ``eval`` imports it.
May import: the rest of ``eval``, ``agent``, ``retrieval``, ``prompts``.
"""
