"""The model settings and the Model Providers pages: a provider's models and credentials, custom
models, switches, default models, model-list refresh and the model field."""
