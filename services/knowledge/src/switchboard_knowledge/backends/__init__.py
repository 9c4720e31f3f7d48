"""Vector backends behind one contract: Weaviate (production) and an embedded one (local)."""
