"""The knowledge backends' shared contract (embedded and Weaviate)."""
