"""Django settings: the one place the environment is read, grouped by concern.

Every variable has a safe development default so that `make run` works on a fresh machine with
only Python; `DEPLOYMENT=production` turns the defaults that would be unsafe into hard errors.
(The deployment mode is not a workspace's environments, Production, Development and so on: those
are rows, `workspaces.models.Environment`. `ENVIRONMENT` is still read, as the older name of
`DEPLOYMENT`.)
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.email_url import parse_email_url
from workspaces.redis_urls import celery_broker, parse_sentinel

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def development_secret(filename: str, make) -> str:
    """Read a development-only secret from var/, generating it once; never committed."""
    path = VAR_DIR / filename
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


# --- Deployment --------------------------------------------------------------------------------


def deployment_mode() -> str:
    """`DEPLOYMENT` (development or production). `ENVIRONMENT`, its older name, is still
    accepted alone; both set to different modes is refused rather than guessed."""
    deployment = os.environ.get("DEPLOYMENT", "").strip().lower()
    legacy = os.environ.get("ENVIRONMENT", "").strip().lower()
    if deployment and legacy and deployment != legacy:
        raise ImproperlyConfigured(
            f"DEPLOYMENT={deployment} and ENVIRONMENT={legacy} disagree. ENVIRONMENT is the "
            "older name of DEPLOYMENT: set only DEPLOYMENT."
        )
    mode = deployment or legacy or "development"
    if mode not in {"development", "production"}:
        name = "DEPLOYMENT" if deployment else "ENVIRONMENT"
        raise ImproperlyConfigured(f"{name} must be development or production.")
    return mode


DEPLOYMENT = deployment_mode()
PRODUCTION = DEPLOYMENT == "production"
DEBUG = env_bool("DEBUG", default=not PRODUCTION)

# --- Secrets -----------------------------------------------------------------------------------
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEPLOYMENT=production.")
    SECRET_KEY = development_secret("secret_key", lambda: secrets.token_urlsafe(50))

# Comma-separated: the first key encrypts, every key decrypts (rotation puts a new key first).
FIELD_ENCRYPTION_KEY = env_list("FIELD_ENCRYPTION_KEY")
if not FIELD_ENCRYPTION_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be set when DEPLOYMENT=production "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')."
        )

    def _new_fernet_key() -> str:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()

    FIELD_ENCRYPTION_KEY = [development_secret("field_encryption_key", _new_fernet_key)]

# --- Hosts and security ------------------------------------------------------------------------
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or (
    [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Behind a TLS-terminating proxy (the documented production set-up), trust its
# X-Forwarded-Proto so Django knows the request was HTTPS.
if env_bool("BEHIND_TLS_PROXY", PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if PRODUCTION else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
# What a page may load and run (django-csp), enforced: only this origin's files, no inline
# script or style, no eval; Tabler's form controls draw data: SVG images. Templates carry no
# inline code (tests/test_browser_policies.py), and the browser tests fail on any violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        # The playground's Speech tab plays the audio it made from a data: URL.
        "media-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Devices and sensors the console never uses, off for it and anything it embeds
# (django-permissions-policy). Clipboard writes stay allowed: copy buttons use them.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "ambient-light-sensor", "autoplay", "bluetooth", "browsing-topics",
        "camera", "display-capture", "encrypted-media", "gamepad", "geolocation", "gyroscope",
        "hid", "idle-detection", "local-fonts", "magnetometer", "microphone", "midi", "payment",
        "publickey-credentials-get", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
}  # fmt: skip

# --- Applications ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_bootstrap5",
    "axes",
    "csp",  # its checks catch settings in the pre-4.0 format
    # The project's apps, bottom layer first (docs/architecture.md).
    "upstream",
    "workspaces",
    "credentials",
    "balancing",
    "system",
    "providers",
    "provisioning",
    "api_keys",
    "invocation",
    "playground",
    "gateway",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "workspaces.middleware.CurrentWorkspaceMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login with 429
]
# Static files from the web processes (whitenoise): production serves the collected, hashed
# files; elsewhere (`make run` serves through gunicorn too) they are found in the apps' folders
# and re-read when they change.
MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = not PRODUCTION

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,  # template_partials replaces this with its own loaders at start-up
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.current_workspace",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------
# The web server runs each request in its own greenlet (config/gunicorn.py), and Django keeps a
# connection per greenlet: a connection kept open after its request (CONN_MAX_AGE) would mean
# one per client connection. So each request's connection is closed when it ends (0), and on
# PostgreSQL a web process shares a pool of at most DATABASE_POOL_MAX_SIZE connections instead
# (psycopg_pool): "closing" gives the connection back. A warm /v1/ call touches no database
# (the configuration cache), so the pool is sized for pages, cold loads and the usage writer,
# not for open streams; a request waits at most DATABASE_POOL_TIMEOUT seconds for a connection,
# then fails as the database being unavailable (the gateway's JSON 503): while the database is
# down, that wait is what a request needing it takes to fail. The pool retries a failed
# connection for at most 5 s before the next request starts afresh, so it reconnects within
# seconds of the database coming back (its own back-off would grow to minutes). Keep
# WEB_CONCURRENCY x DATABASE_POOL_MAX_SIZE + the Celery workers' concurrency + a few under
# PostgreSQL's max_connections (100 by default). DATABASE_POOL_MAX_SIZE=0 turns the pool off.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
DATABASE_POOL_MAX_SIZE = int(os.environ.get("DATABASE_POOL_MAX_SIZE", "20"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections (Django requires 0)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(int(os.environ.get("DATABASE_POOL_MIN_SIZE", "2")), DATABASE_POOL_MAX_SIZE),
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "3")),
        "reconnect_timeout": 5,
        "max_idle": 300,  # idle connections beyond min_size are closed after five minutes
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL and a busy timeout let the web server and an embedded worker share the file.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so a Celery worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and Celery --------------------------------------------------------------------------
# Unset REDIS_URL means embedded mode: Celery tasks run in-process and routing state lives in
# process memory, so the app needs nothing but Python.
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED_MODE = not REDIS_URL
# Connections each Redis client of a process keeps at most (routing, the configuration cache's
# versions, pool stats: workspaces/redis_urls.py); callers beyond it wait for one. Without a cap
# a burst of streams left a worker holding as many connections as it had concurrent callers.
REDIS_MAX_CONNECTIONS = int(os.environ.get("REDIS_MAX_CONNECTIONS", "20"))
# Shared counters (the validation rate limit) live in Redis when there is one, so every web
# process counts together; embedded mode has one process and keeps them in memory.
# (Django's Redis cache cannot follow Sentinel: with a sentinel:// URL the counters are kept
# per process, so the validation limit applies per web process.)
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
        if REDIS_URL and parse_sentinel(REDIS_URL) is None
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# /healthz pings Celery workers at most this often (seconds); probes in between reuse the count.
HEALTH_WORKER_CACHE_SECONDS = float(os.environ.get("HEALTH_WORKER_CACHE_SECONDS", "10"))
# /healthz also counts the answering process's live greenlets ("streams": {"greenlets": n}), for
# the fault tests that check a worker's event-loop tasks return to their baseline after a fault.
# Off by default: the count walks every object the garbage collector tracks (gc.get_objects()),
# tens of milliseconds with a thousand streams open, during which the worker serves nothing.
HEALTHZ_COUNT_TASKS = env_bool("HEALTHZ_COUNT_TASKS", False)
# A Sentinel REDIS_URL becomes kombu's form plus the service name (workspaces/redis_urls.py).
_BROKER, _SENTINEL_OPTIONS = celery_broker(REDIS_URL) if REDIS_URL else ("memory://localhost/", {})
CELERY_BROKER_URL = _BROKER
CELERY_RESULT_BACKEND = _BROKER if REDIS_URL else "cache+memory://"
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = dict(_SENTINEL_OPTIONS)
CELERY_TASK_ALWAYS_EAGER = EMBEDDED_MODE
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # How long a task taken by a worker that died (acks late) waits before another worker gets
    # it again; longer than any countdown the re-validation schedule uses.
    "visibility_timeout": float(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
    **_SENTINEL_OPTIONS,
}
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
# How often system providers ask their provider for its model list (seconds).
SYSTEM_MODELS_REFRESH_SECONDS = float(os.environ.get("SYSTEM_MODELS_REFRESH_SECONDS", "21600"))
# Scheduled re-validation of every stored credential (system/revalidation.py): how often
# (seconds), and at most how many provider checks per minute per workspace.
CREDENTIAL_REVALIDATION_SECONDS = float(os.environ.get("CREDENTIAL_REVALIDATION_SECONDS", "86400"))
CREDENTIAL_REVALIDATION_RATE = int(os.environ.get("CREDENTIAL_REVALIDATION_RATE", "30"))
CELERY_BEAT_SCHEDULE = {
    "revalidate-credentials": {
        "task": "credentials.revalidate_all",
        "schedule": CREDENTIAL_REVALIDATION_SECONDS,
    },
    "sweep-pending-validations": {
        "task": "credentials.sweep_pending_validations",
        "schedule": 300.0,
    },
    "refresh-system-models": {
        "task": "system.refresh_models",
        "schedule": SYSTEM_MODELS_REFRESH_SECONDS,
    },
}

# --- Authentication ----------------------------------------------------------------------------
AUTH_USER_MODEL = "workspaces.User"
AUTHENTICATION_BACKENDS = [
    "workspaces.backends.LoginLockout",  # django-axes: refuses locked-out accounts and addresses
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins: after AXES_FAILURE_LIMIT failures an account, and separately an IP address,
# is locked out for AXES_COOLOFF_MINUTES (django-axes, counted in the database so every web
# process shares them). A successful login resets the account's count.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_MINUTES", "15")) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_FORM_FIELD = "username"  # the sign-in form's field (it holds the email)
AXES_USERNAME_CALLABLE = "workspaces.backends.lockout_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# The client's address is the one the nearest of TRUSTED_PROXY_COUNT proxies saw (the entry it
# appended to X-Forwarded-For); 0 trusts no header and counts the socket's peer. Behind the
# documented TLS proxy it is 1, so one client's failures never lock out everyone behind it.
# (AXES_PROXY_COUNT is the name older READMEs gave it.)
TRUSTED_PROXY_COUNT = int(
    os.environ.get("TRUSTED_PROXY_COUNT")
    or os.environ.get("AXES_PROXY_COUNT")
    or ("1" if env_bool("BEHIND_TLS_PROXY", PRODUCTION) else "0")
)
AXES_CLIENT_IP_CALLABLE = "workspaces.backends.lockout_client_address"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Email -------------------------------------------------------------------------------------
# Invitations go to the address by email: whoever reads its mail proves it (DESIGN.md section 2).
# EMAIL_URL is parsed by config/email_url.py (smtp://user:pass@host:587?tls=true, smtps://…,
# file:///folder, console:). Development writes each email to a file under var/mail/;
# production defaults to Django's own, SMTP on localhost:25.
_email = parse_email_url(
    os.environ.get("EMAIL_URL")
    or ("smtp://localhost:25" if PRODUCTION else (VAR_DIR / "mail").resolve().as_uri())
)
EMAIL_BACKEND, EMAIL_FILE_PATH, EMAIL_TIMEOUT = _email.backend, _email.file_path, _email.timeout
EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER = _email.host, _email.port, _email.user
EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL = _email.password, _email.use_tls, _email.use_ssl
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Model Console <noreply@localhost>")
# How long an invitation link works after it was sent (Resend sends a fresh one).
INVITATION_MAX_AGE_DAYS = float(os.environ.get("INVITATION_MAX_AGE_DAYS", "7"))

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
# Production serves static files from the web processes (whitenoise) with hashed names and
# compressed copies: run `manage.py collectstatic` at deploy time.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Forms -------------------------------------------------------------------------------------
BOOTSTRAP5 = {
    "set_placeholder": False,
    "required_css_class": "required",
}

# --- Providers ---------------------------------------------------------------------------------
# The declarative catalog: one YAML file per provider (DESIGN.md section 3).
PROVIDER_CATALOG_DIR = Path(
    os.environ.get("PROVIDER_CATALOG_DIR", BASE_DIR / "upstream" / "catalog")
)

# Outbound calls to providers (upstream/transports/). User-supplied URLs that resolve to
# loopback, private, link-local or metadata addresses are refused unless their host:port (or
# bare host) is allow-listed here, e.g. "localhost:11434" for a local Ollama.
PROVIDER_URL_ALLOWLIST = env_list("PROVIDER_URL_ALLOWLIST")
# In development a local Ollama on its default port works as the catalog suggests
# (http://localhost:11434) without configuration; production reaches only what is listed above.
DEVELOPMENT_PROVIDER_URLS = ["localhost:11434", "127.0.0.1:11434", "[::1]:11434"]
if not PRODUCTION:
    PROVIDER_URL_ALLOWLIST += DEVELOPMENT_PROVIDER_URLS
PROVIDER_CONNECT_TIMEOUT = float(os.environ.get("PROVIDER_CONNECT_TIMEOUT", "5"))
PROVIDER_READ_TIMEOUT = float(os.environ.get("PROVIDER_READ_TIMEOUT", "20"))
# Credential validation: how long a page waits for the provider's verdict before telling the
# user it timed out, and how long typed secrets of a failed attempt are kept for a resubmit.
CREDENTIAL_VALIDATION_TIMEOUT = float(os.environ.get("CREDENTIAL_VALIDATION_TIMEOUT", "30"))
CREDENTIAL_RETRY_WINDOW = int(os.environ.get("CREDENTIAL_RETRY_WINDOW", "600"))
# Validation submissions (add, edit, Check now, Check all) a workspace may make per minute, so
# nobody can use the server to probe keys at speed.
CREDENTIAL_VALIDATIONS_PER_MINUTE = int(os.environ.get("CREDENTIAL_VALIDATIONS_PER_MINUTE", "20"))
PROVIDER_MAX_RESPONSE_BYTES = int(os.environ.get("PROVIDER_MAX_RESPONSE_BYTES", str(8 * 2**20)))

# --- Logging -----------------------------------------------------------------------------------
# JSON lines in production (LOG_FORMAT=json|plain); every record passes a filter that masks
# anything shaped like a key or bearer token, in case a library logs one.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "no_secrets": {"()": "config.logs.RedactSecrets"},
        "forbidden_in_one_line": {"()": "config.logs.ForbiddenInOneLine"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logs.JsonLines"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT if LOG_FORMAT in ("json", "plain") else "plain",
            "filters": ["forbidden_in_one_line", "no_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes says every successful sign-in at INFO; failures and lockouts stay (WARNING).
    "loggers": {"axes": {"level": "WARNING"}},
}

# Load balancing (DESIGN.md section 7). A paid-plan feature unless enabled for every plan
# (self-hosted installs usually want it on).
LOAD_BALANCING_ALL_PLANS = env_bool("LOAD_BALANCING_ALL_PLANS", False)
# Request queuing: how long a call may wait for the earliest entry to leave its cooldown when
# every entry of a pool is cooling down. 0 fails fast (429 with Retry-After).
LOAD_BALANCING_WAIT_SECONDS = float(os.environ.get("LOAD_BALANCING_WAIT_SECONDS", "0"))
# The longest cooldown a provider's Retry-After (or rate-limit reset) may impose.
LOAD_BALANCING_COOLDOWN_CAP = float(os.environ.get("LOAD_BALANCING_COOLDOWN_CAP", "3600"))
# The longest back-off after repeated 5xx, connection errors and timeouts (10 s, doubling).
LOAD_BALANCING_BACKOFF_CAP = float(os.environ.get("LOAD_BALANCING_BACKOFF_CAP", "300"))
# How long a process reuses a pool's configuration before reading it again from the database
# (changes made in the same process apply at once); 0 reads it on every call.
LOAD_BALANCING_CONFIG_CACHE_SECONDS = float(
    os.environ.get("LOAD_BALANCING_CONFIG_CACHE_SECONDS", "2")
)
# How many pools' routes and system offers a process keeps (least recently used dropped first).
CONFIG_CACHE_SIZE = int(os.environ.get("CONFIG_CACHE_SIZE", "10000"))
# How often a process asks Redis whether another process changed the configuration it caches
# (workspaces/config_cache.py): the delay before a change elsewhere is seen. Without Redis (or
# while it is down) the cache lifetimes above and below are the bound instead.
CONFIG_CACHE_CHECK_SECONDS = float(os.environ.get("CONFIG_CACHE_CHECK_SECONDS", "0.05"))
# How long a process trusts an API key it checked, and how many it keeps (revocations made in
# the process apply at once; elsewhere within CONFIG_CACHE_CHECK_SECONDS, or this without Redis).
API_KEY_CACHE_SECONDS = float(os.environ.get("API_KEY_CACHE_SECONDS", "5"))
API_KEY_CACHE_SIZE = int(os.environ.get("API_KEY_CACHE_SIZE", "10000"))
# The longest a streamed answer may last in total (the read timeout still applies between
# chunks).
PROVIDER_STREAM_TIMEOUT = float(os.environ.get("PROVIDER_STREAM_TIMEOUT", "300"))

# Streamed answers one web process keeps open at once (the gateway's and the playground's);
# past it a new stream is refused at once with 503 and Retry-After (invocation/capacity.py).
# config/gunicorn.py sizes each worker's connections above it, from the same variable.
GATEWAY_MAX_STREAMS = int(os.environ.get("GATEWAY_MAX_STREAMS", "1000"))

# Idle connections a web process keeps per provider host for the next call (see
# upstream/transports/sync.py).
PROVIDER_CONNECTIONS_PER_HOST = int(
    os.environ.get("PROVIDER_CONNECTIONS_PER_HOST", str(GATEWAY_MAX_STREAMS))
)

# The OpenAI-compatible gateway (/v1/): the largest request body, and how many inputs one
# embeddings or moderation request may carry.
GATEWAY_MAX_BODY_BYTES = int(os.environ.get("GATEWAY_MAX_BODY_BYTES", str(2**20)))
GATEWAY_MAX_INPUTS = int(os.environ.get("GATEWAY_MAX_INPUTS", "2048"))
# The image bytes one chat request may carry, inline as data URLs or fetched from https URLs
# for providers that need the bytes (Gemini, Ollama). Such a body may be this much larger than
# GATEWAY_MAX_BODY_BYTES, which stays the cap for text. Sized against issue 20's memory goal
# (1000 open streams within 1.5 GB): a request holds its images about three times over (the
# body, the parsed JSON, the provider's request), only until the provider accepts it, never for
# a stream's life; at 8 MiB that is about 24 MiB for each image request in flight, so 20 at once
# fit beside the streams. Lower it for a gateway that takes many images at once.
GATEWAY_MAX_IMAGE_BYTES = int(os.environ.get("GATEWAY_MAX_IMAGE_BYTES", str(8 * 2**20)))
# Media endpoints (issue 22): the largest audio upload to /v1/audio/transcriptions (OpenAI's own
# cap is 25 MB), the longest text /v1/audio/speech speaks (OpenAI's is 4,096 characters), the
# most images one request makes, and the most documents one rerank takes (Cohere's is 1,000).
GATEWAY_MAX_AUDIO_BYTES = int(os.environ.get("GATEWAY_MAX_AUDIO_BYTES", str(25 * 2**20)))
GATEWAY_MAX_SPEECH_CHARACTERS = int(os.environ.get("GATEWAY_MAX_SPEECH_CHARACTERS", "4096"))
GATEWAY_MAX_IMAGES = int(os.environ.get("GATEWAY_MAX_IMAGES", "10"))
GATEWAY_MAX_RERANK_DOCUMENTS = int(os.environ.get("GATEWAY_MAX_RERANK_DOCUMENTS", "1000"))
# The playground's image upload (playground/uploads.py): held in memory only, never on disk, so
# capped below the gateway's image cap; 4 MiB keeps it within every provider's own per-image
# limit (Anthropic takes 5 MB). Never above GATEWAY_MAX_IMAGE_BYTES.
PLAYGROUND_MAX_IMAGE_BYTES = min(
    int(os.environ.get("PLAYGROUND_MAX_IMAGE_BYTES", str(4 * 2**20))), GATEWAY_MAX_IMAGE_BYTES
)
# How many resolved model ids a process keeps (least recently used dropped first; unknown
# ids are never kept), so memory stays bounded whatever names clients send.
GATEWAY_MODEL_CACHE_SIZE = int(os.environ.get("GATEWAY_MODEL_CACHE_SIZE", "4096"))
# Usage records are written in batches by a background thread every this many seconds
# (invocation/usage.py); 0 writes each one during the call. At most USAGE_MAX_PENDING wait in
# memory while the database is down.
USAGE_WRITE_INTERVAL = float(os.environ.get("USAGE_WRITE_INTERVAL", "0.5"))
USAGE_MAX_PENDING = int(os.environ.get("USAGE_MAX_PENDING", "50000"))
