"""Settings read from the environment, each with an explicit default.

Every variable is listed in the README's configuration table; keep the two in
step.  Optional infrastructure (MongoDB, Redis, SMTP) switches on only when its
variable is set, so the platform runs with no external services at all.
"""
from __future__ import annotations

import dataclasses
import os
import secrets


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8888
    processes: int = 1
    base_url: str = ""
    mongodb_uri: str = ""
    mongodb_db: str = "livehall"
    # Where the public catalogue reads from: "primary", or "secondary" (a secondary at most
    # 90 s behind, else the primary).
    mongodb_catalogue_reads: str = "primary"
    embedded_store_address: str = ""
    redis_url: str = ""
    redis_shards: int = 4
    cookie_secret: str = ""
    cookie_secret_generated: bool = False
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "starttls"  # starttls | tls | none
    mail_from: str = "Livehall <no-reply@localhost>"
    mail_settings_key: str = ""  # Fernet key encrypting spaces' SMTP passwords
    demo_password: str = "demo-livehall"
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    signin_link_ttl_hours: int = 72
    reset_link_ttl_minutes: int = 60
    session_ttl_days: int = 30
    max_upload_mb: int = 10
    max_csv_kb: int = 1024
    max_csv_rows: int = 20000
    trust_proxy: bool = False
    metrics_token: str = ""
    log_format: str = "json"
    log_level: str = "INFO"
    default_locale: str = "en"
    reservation_minutes: int = 15      # checkout holds the chosen tickets this long
    order_card_minutes: int = 30       # an unpaid order to be paid by card waits this long
    order_invoice_days: int = 3        # an unpaid order to be paid by invoice waits this long
    event_loop: str = "uvloop"  # uvloop | asyncio
    # Card payments (Stripe); unset secret key: no card payments.
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # How long a card payment may wait for its notification before the provider is asked.
    payment_check_minutes: int = 10
    watch_heartbeat_seconds: int = 30  # the player's heartbeat period (registration.watch_time)
    pdf_workers: int = 0  # processes rendering certificate PDFs; 0: one per CPU
    # Web Push (`donations.push`): the VAPID key pair (unset: generated once and kept in the store),
    # its contact, and the push services a browser's subscription may name (an allow-list: the
    # server posts to these addresses).
    vapid_private_key: str = ""
    vapid_subject: str = ""
    push_services: str = ("https://fcm.googleapis.com https://updates.push.services.mozilla.com "
                          "https://*.notify.windows.com https://web.push.apple.com")

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def embedded_store(self) -> bool:
        return not self.mongodb_uri


def from_env(env: dict[str, str] | None = None, **overrides) -> Settings:
    env = dict(os.environ if env is None else env)
    s = Settings()
    values: dict = {}
    for field in dataclasses.fields(Settings):
        if field.name == "cookie_secret_generated":
            continue
        raw = env.get(field.name.upper())
        if raw is None:
            continue
        default = getattr(s, field.name)
        if isinstance(default, bool):
            values[field.name] = _bool(raw)
        elif isinstance(default, int):
            values[field.name] = int(raw)
        else:
            values[field.name] = raw
    values.update(overrides)
    if not values.get("cookie_secret"):
        # A random secret signs out everybody on restart; production sets one
        # (and every process behind nginx must share it).
        values["cookie_secret"] = secrets.token_urlsafe(32)
        values["cookie_secret_generated"] = True
    return dataclasses.replace(s, **values)
