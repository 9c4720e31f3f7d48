"""Contract suites: one set of behaviour tests run against every implementation."""
