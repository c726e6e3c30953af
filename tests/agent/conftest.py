"""The agent tests' LLM fixtures (``smollm2_dir``, ``vllm_server``, ``vllm_engine``) live in
``tests/conftest.py`` so that the UI tests share the same single vLLM server."""
