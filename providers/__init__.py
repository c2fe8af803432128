"""The provider catalog, its credential schemas, the schema form builder and the provider pages."""
