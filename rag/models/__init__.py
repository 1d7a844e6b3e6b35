"""The models behind the pipeline: `embeddings` (the `Embedder` protocol and built-ins), `llms` (chat
backends), `prompts` (prompt files)."""
