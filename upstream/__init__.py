"""What the console knows about upstream model providers without a database: the catalog and
its credential schemas, the form builder, the adapters, outbound HTTP, call types and the error
taxonomy. The floor of the layers: it imports no other app of the project."""
