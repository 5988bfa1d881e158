"""Pure logic of the model-customization workflow, importable without AWS or CDK.

``recipes`` loads, validates and renders the Nova recipes under ``recipes/``; the
workflow's handlers and state machine build on these functions so the rules live in one
place and are tested without a cloud account.
"""
