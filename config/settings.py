"""The one settings module. Every knob is an environment variable (see docs/operations.md).

Defaults give the embedded demo: SQLite, Celery eager, media under ./var/media. Set DATABASE_URL
and CELERY_BROKER_URL for PostgreSQL + Redis + real workers; nothing else changes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from kombu import Queue

from config.env import ImproperlyConfiguredEnv, env_bool, env_int, env_json, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MAMMOLAB_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY", "insecure-dev-key-change-me")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Key for the keyed (HMAC) identifiers of de-identification. Same input + same secret = same ids.
# Changing it on a running installation makes re-imports look like new exams.
DEID_SECRET = env_str("DEID_SECRET", "mammolab-demo-deid-secret")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.common",
    "apps.accounts",
    "apps.studies",
    "apps.reading",
    "apps.datasets",
    "apps.dicomweb",
    "apps.web",
    # Login lockout (issue 9, item 10); its attempt log is a table of its own.
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the built frontend (collectstatic) without DEBUG, e.g. under gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.common.middleware.ContentSecurityPolicyMiddleware",
    # Last: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves several readers at once (threaded runserver). IMMEDIATE
    # transactions take SQLite's write lock when a transaction starts, so two saves queue behind
    # each other instead of one failing with "database is locked" when it upgrades a read lock;
    # WAL lets readers go on while one request writes. The test database is a file, not memory,
    # so tests that save from several threads see the same locking as the product.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_LOCK_TIMEOUT_S", 20),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# The Vite build output (frontend/dist) is served as static files by Django.
FRONTEND_DIST_DIR = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST_DIR] if FRONTEND_DIST_DIR.exists() else []

MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Every stored file goes through this storage. FILE_STORAGE_BACKEND=s3: a private bucket of any
# S3-compatible store (django-storages), so web and workers share no disk; files reach browsers
# only through the authorising views (apps/common/files.py), never a public bucket URL.
FILE_STORAGE_BACKEND = env_str("FILE_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
if FILE_STORAGE_BACKEND in ("s3", "storages.backends.s3.S3Storage"):
    DEFAULT_FILE_STORAGE_CONFIG: dict = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": env_str("S3_BUCKET", "mammolab"),
        "location": env_str("S3_PREFIX", ""),
        "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
        "region_name": env_str("S3_REGION") or None,
        # Unset: boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, instance role).
        "access_key": env_str("S3_ACCESS_KEY_ID") or None,
        "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
        "default_acl": "private",
        "querystring_auth": True,
        "querystring_expire": env_int("S3_URL_EXPIRE_S", 300),
        # Storage names are deterministic (re-runs replace their files): never rename on collision.
        "file_overwrite": True,
    }}
elif FILE_STORAGE_BACKEND == "django.core.files.storage.FileSystemStorage":
    # As on S3 (file_overwrite): deterministic names are replaced in place, never renamed.
    DEFAULT_FILE_STORAGE_CONFIG = {"BACKEND": FILE_STORAGE_BACKEND, "OPTIONS": {"allow_overwrite": True}}
else:
    DEFAULT_FILE_STORAGE_CONFIG = {"BACKEND": FILE_STORAGE_BACKEND}
STORAGES = {
    "default": DEFAULT_FILE_STORAGE_CONFIG,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Users and access (issue 9, items 8 and 10; docs/operations.md "Users and access") -------------
# Lockout after repeated wrong passwords, per username and client address (django-axes); a locked
# pair gets 429 until the cool-off ends or an admin runs `manage.py axes_reset`.
# RolesModelBackend: ModelBackend that loads the roles in the user's query (apps/accounts/backends.py).
AUTHENTICATION_BACKENDS = ["apps.accounts.backends.RolesModelBackend"]
# Axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *AUTHENTICATION_BACKENDS]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 10)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sessions end after this much idle time: requests renew them, so only inactivity ends a session.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_TIMEOUT_S", 3600)
SESSION_SAVE_EVERY_REQUEST = True
# ... but the session row is written at most once per SESSION_RENEW_AFTER_S (apps/accounts/sessions.py).
SESSION_ENGINE = "apps.accounts.sessions"
SESSION_RENEW_AFTER_S = env_int("SESSION_RENEW_AFTER_S", 60)
SESSION_COOKIE_HTTPONLY = True
# HTTPS=true behind TLS (production): secure cookies, redirect to https, HSTS. Off by default so
# the demo (bin/demo) and the test servers keep working over plain http.
HTTPS = env_bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=HTTPS)
if env_bool("BEHIND_TLS_PROXY", default=False):
    # The proxy terminates TLS and says so in X-Forwarded-Proto; only set this behind such a proxy.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent on every response (apps.common.middleware); the SPA loads only its own hashed assets.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # DRF's TokenAuthentication with the roles in the token's query (apps/accounts/backends.py).
        "apps.accounts.backends.RolesTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.common.pagination.DefaultPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50),
    "DEFAULT_SCHEMA_CLASS": "apps.common.schema.AutoSchema",
    "EXCEPTION_HANDLER": "apps.common.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MammoLab API",
    "DESCRIPTION": "Ingest, double reading, arbitration and export of screening mammograms.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed package, not a CDN: the docs work with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One named enum per fixed vocabulary, so the typed client (frontend/src/api/schema.d.ts) names
    # each choice set once; without these, fields of the same name with different sets ("state",
    # "status", "birads") get hash-suffixed names. Each points at the set the serializers use.
    "ENUM_NAME_OVERRIDES": {
        "AssignmentKindEnum": "apps.reading.models.AssignmentKind",
        "AssignmentStateEnum": "apps.reading.models.AssignmentState",
        "ReadOriginEnum": "apps.reading.models.ReadOrigin",
        "StudyStateEnum": "apps.studies.models.StudyState",
        "ImageStateEnum": "apps.studies.models.ImageState",
        "ImportItemStatusEnum": "apps.studies.models.ImportItemStatus",
        # An import batch's state and an export's status have the same values and labels: one enum.
        "JobStateEnum": "apps.datasets.models.ExportStatus",
        "ImagesModeEnum": "apps.datasets.models.ImagesMode",
        "LateralityEnum": "apps.reading.vocabulary.LATERALITIES",
        "DensityEnum": "apps.reading.vocabulary.DENSITIES",
        "FindingCategoryEnum": "apps.reading.vocabulary.FINDING_CATEGORIES",
        "BreastBiradsEnum": "apps.reading.apis.BREAST_BIRADS_CHOICES",
        "FindingBiradsEnum": "apps.reading.apis.FINDING_BIRADS_CHOICES",
        "RuleCodeEnum": "apps.reading.rules.RULE_CODES",
        "DiscordanceReasonCodeEnum": "apps.reading.concordance.ReasonCode",
        "SpacingSourceEnum": "apps.studies.dicom.SPACING_SOURCES",
    },
}

# Celery: without a broker every task runs eagerly in-process (the embedded demo).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
# A worker that dies mid-job must not lose it: ack after the task ran, requeue on worker loss.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
# One queue per kind of work, each with its own workers (docker-compose.yml), so a 20,000-image
# import fills only `ingest` and never delays an admin's re-render or export. A worker started
# without -Q consumes all of them (the single-worker setup). Priorities order a queue's messages
# (Redis: lower is served first): the stale-item sweep waits behind the files of an import.
CELERY_TASK_QUEUES = [Queue("celery"), Queue("ingest"), Queue("render"), Queue("export")]
CELERY_TASK_ROUTES = {
    "studies.file_ingest": {"queue": "ingest", "priority": 6},
    "studies.ingest_sweep": {"queue": "ingest", "priority": 9},
    "studies.image_render": {"queue": "render", "priority": 3},
    "apps.datasets.tasks.export_run": {"queue": "export", "priority": 3},
    # Not behind a long export on its own queue: the sweep must run while the export worker is busy.
    "datasets.exports_sweep": {"queue": "celery"},
}

# Exports: a running export refreshes its heartbeat at every progress step; one whose heartbeat is
# older than this lost its worker and may be claimed again by a redelivered job.
EXPORT_LEASE_S = env_int("EXPORT_LEASE_S", 300)
# A live run beats every EXPORT_HEARTBEAT_S from a thread of its own (also through slow stages);
# `exports_sweep` (beat, every EXPORT_SWEEP_INTERVAL_S) re-queues an export whose
# beat is older than the lease, at most EXPORT_MAX_ATTEMPTS runs: a killed worker's export resumes
# within EXPORT_LEASE_S + EXPORT_SWEEP_INTERVAL_S, not the broker's visibility timeout.
EXPORT_HEARTBEAT_S = env_int("EXPORT_HEARTBEAT_S", 30)
EXPORT_SWEEP_INTERVAL_S = env_int("EXPORT_SWEEP_INTERVAL_S", 60)
EXPORT_MAX_ATTEMPTS = env_int("EXPORT_MAX_ATTEMPTS", 3)
if not 0 < EXPORT_HEARTBEAT_S * 3 <= EXPORT_LEASE_S:
    raise ImproperlyConfiguredEnv(f"EXPORT_HEARTBEAT_S={EXPORT_HEARTBEAT_S} must be positive and at most a third of "
                                  f"EXPORT_LEASE_S={EXPORT_LEASE_S}, or live exports would look lost")

# Ingest
INGEST_ALLOWED_MODALITIES = env_list("INGEST_ALLOWED_MODALITIES", ["MG"])
INGEST_MAX_FILE_BYTES = env_int("INGEST_MAX_FILE_BYTES", 200 * 1024 * 1024)
INGEST_MAX_PIXELS = env_int("INGEST_MAX_PIXELS", 60_000_000)
# Upload and archive limits (docs/operations.md): a request over them is refused with
# 413 upload_too_large; an archive over them is one rejected item naming the limit.
INGEST_MAX_UPLOAD_BYTES = env_int("INGEST_MAX_UPLOAD_BYTES", 4 * 1024 * 1024 * 1024)
INGEST_MAX_UPLOAD_FILES = env_int("INGEST_MAX_UPLOAD_FILES", 1000)
DATA_UPLOAD_MAX_NUMBER_FILES = INGEST_MAX_UPLOAD_FILES + 1  # + the manifest
INGEST_ZIP_MAX_MEMBERS = env_int("INGEST_ZIP_MAX_MEMBERS", 20_000)
INGEST_ZIP_MAX_EXPANDED_BYTES = env_int("INGEST_ZIP_MAX_EXPANDED_BYTES", 20 * 1024 * 1024 * 1024)
INGEST_ZIP_MAX_RATIO = env_int("INGEST_ZIP_MAX_RATIO", 100)
# Clean-up after a dead process (services.ingest_sweep): a pending item untouched this long is
# given up; a staged file without an item this old is deleted; the sweep runs this often.
INGEST_STALE_AFTER_S = env_int("INGEST_STALE_AFTER_S", 6 * 3600)
INGEST_STAGING_GRACE_S = env_int("INGEST_STAGING_GRACE_S", 600)
INGEST_SWEEP_INTERVAL_S = env_int("INGEST_SWEEP_INTERVAL_S", 900)
# One file's ingest on a worker (prefork pool) is interrupted after this long and the file
# rejected; the decode of the largest accepted image takes a few seconds.
INGEST_TASK_SOFT_TIME_LIMIT_S = env_int("INGEST_TASK_SOFT_TIME_LIMIT_S", 600)
CELERY_BEAT_SCHEDULE = {
    "ingest-sweep": {"task": "studies.ingest_sweep", "schedule": float(INGEST_SWEEP_INTERVAL_S)},
    "exports-sweep": {"task": "datasets.exports_sweep", "schedule": float(EXPORT_SWEEP_INTERVAL_S)},
}
# Burned-in text masks: list of [x0, y0, x1, y1] fractions, blacked out at import. In the
# "chest_wall" frame x runs from the chest-wall edge (0) to the far, nipple side (1), so one list
# fits left and right views; in the "image" frame x is a fraction of the stored columns. Default:
# the far side's upper 35% x 28% (every burned-in film label on the CBIS-DDSM films lies there,
# docs/ingest.md) and its lower 12% x 6% corner; the chest-wall side, where the pectoral muscle
# and axilla are, is never masked. A project can override both (Project.settings["corner_mask"]).
CORNER_MASK = env_json("CORNER_MASK", [[0.65, 0.0, 1.0, 0.28], [0.88, 0.94, 1.0, 1.0]])
CORNER_MASK_FRAME = env_str("CORNER_MASK_FRAME", "chest_wall")
if CORNER_MASK_FRAME not in ("image", "chest_wall"):
    raise ImproperlyConfiguredEnv(f"CORNER_MASK_FRAME={CORNER_MASK_FRAME!r} must be image or chest_wall")
RENDER_DISPLAY_MAX_SIDE = env_int("RENDER_DISPLAY_MAX_SIDE", 2048)
RENDER_THUMBNAIL_MAX_SIDE = env_int("RENDER_THUMBNAIL_MAX_SIDE", 256)
# Cores one render may use; 0 = up to 4 (apps/studies/dicom.py render_threads).
RENDER_THREADS = env_int("RENDER_THREADS", 0)

# DICOM network receiver (manage.py dicom_listener) and DICOMweb (/dicomweb/); docs/dicom.md.
DICOM_LISTEN_HOST = env_str("DICOM_LISTEN_HOST", "127.0.0.1")
DICOM_LISTEN_PORT = env_int("DICOM_LISTEN_PORT", 11112)
DICOM_AE_TITLE = env_str("DICOM_AE_TITLE", "MAMMOLAB")
# Calling AE title -> project slug; an association from any other AE title is rejected.
DICOM_CALLING_AES = env_json("DICOM_CALLING_AES", {})
if not isinstance(DICOM_CALLING_AES, dict) or not all(
        isinstance(k, str) and 0 < len(k.strip()) <= 16 and isinstance(v, str) and v
        for k, v in DICOM_CALLING_AES.items()):
    raise ImproperlyConfiguredEnv('DICOM_CALLING_AES must be a JSON object {"AE_TITLE": "project-slug"} '
                                  "with AE titles of 1-16 characters")
if not 0 < len(DICOM_AE_TITLE.strip()) <= 16:
    raise ImproperlyConfiguredEnv(f"DICOM_AE_TITLE={DICOM_AE_TITLE!r} must be 1-16 characters")
DICOM_MAX_INSTANCE_BYTES = env_int("DICOM_MAX_INSTANCE_BYTES", INGEST_MAX_FILE_BYTES)
DICOM_MAX_ASSOCIATION_BYTES = env_int("DICOM_MAX_ASSOCIATION_BYTES", 4 * 1024 * 1024 * 1024)
# How long a C-STORE or STOW-RS request waits for the ingest of its instances (worker or eager).
DICOM_INGEST_WAIT_S = env_int("DICOM_INGEST_WAIT_S", 300)
DICOMWEB_MAX_REQUEST_BYTES = env_int("DICOMWEB_MAX_REQUEST_BYTES", 4 * 1024 * 1024 * 1024)
DICOMWEB_MAX_INSTANCE_BYTES = env_int("DICOMWEB_MAX_INSTANCE_BYTES", INGEST_MAX_FILE_BYTES)
# Project a STOW-RS request without ?project= stores into ("" = the parameter is required).
DICOMWEB_STOW_DEFAULT_PROJECT = env_str("DICOMWEB_STOW_DEFAULT_PROJECT", "")
DICOMWEB_QIDO_MAX_LIMIT = env_int("DICOMWEB_QIDO_MAX_LIMIT", 1000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # pydicom logs every odd value it meets; ingest turns those into rejection reasons.
    "loggers": {"pydicom": {"level": "ERROR"},
                # Eager Celery (the embedded default) logs "Task ... succeeded" per file among a
                # command's results; the commands print their own per-file outcome.
                "celery.app.trace": {"level": env_str("CELERY_TRACE_LOG_LEVEL", "WARNING")},
                # pynetdicom logs every C-FIND identifier at INFO: a caller's query may hold PHI
                # (PatientName=...), and per-message logging costs the receiver time.
                "pynetdicom": {"level": env_str("PYNETDICOM_LOG_LEVEL", "WARNING")}},
}
