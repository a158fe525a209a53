"""The facade: one object that opens a mesh and offers every use case."""
