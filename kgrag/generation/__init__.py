"""Answer generation: model loading and prompt formats, grounded prompts, safety, batching."""
