from django.apps import AppConfig


class InvocationConfig(AppConfig):
    name = "invocation"
    verbose_name = "Model calls and usage"
