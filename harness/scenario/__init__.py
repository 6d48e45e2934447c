"""Scenarios: the model, the parser, and discovery of scenario files."""
