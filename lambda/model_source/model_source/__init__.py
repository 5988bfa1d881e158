"""Custom resource: the model the Serving stack serves, from the workflow's lineage table."""
