"""The customization workflow's Lambda steps: validate, prepare, clean up."""
