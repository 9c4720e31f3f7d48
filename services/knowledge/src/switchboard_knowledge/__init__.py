"""Knowledge service: each business's own content, chunked, embedded and searched."""
