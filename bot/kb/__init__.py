"""Knowledge base: FAQ entries with similar questions, live-editable retrieval."""
