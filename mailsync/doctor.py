"""`mailsync doctor`: is this deployment ready to run? One line per check, `ok` or
`problem` with a hint: the configuration, the store (reachable, at head), the stored
secrets against MAILSYNC_SECRET_KEY, the Discord token, the web endpoint's port, the OAuth2
providers and the catalogs. Exit 0 when every check passes, 1 when one fails, 2 when the
configuration itself is invalid (then nothing else can be checked)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from mailsync import check_config
from mailsync.catalogs import check_catalogs
from mailsync.doctor_remote import check_discord, check_oauth, check_port
from mailsync.doctor_result import Result
from mailsync.doctor_store import check_secrets, oauth_providers_in_use, open_store
from settings import Settings


def _guarded(name: str, check: Callable[[], Result]) -> Result:
    """A check that crashes is a problem line, not a traceback that ends the others."""
    try:
        return check()
    except Exception as exc:
        return Result.problem(name, f"check failed: {type(exc).__name__}: {exc}"[:300], "report it")


def _providers_in_use(engine) -> dict[str, list[int]] | None:
    try:
        return oauth_providers_in_use(engine)
    except Exception:  # a schema behind head: the store line says so already
        return None


def results(env: Mapping[str, str]) -> Iterator[Result]:
    """The checks' results in order, each as soon as it is known."""
    problems = check_config.problems(env)
    if problems:
        for problem in problems:
            yield Result.problem("config", problem, "fix .env; `mailsync check-config` lists all")
        return
    settings = Settings.from_env(env)
    yield Result.ok("config", "settings valid")
    store, engine = open_store(settings.database_url)
    yield store
    in_use = None
    try:
        if engine is not None:
            yield _guarded("secrets", lambda: check_secrets(engine, settings.secret_key))
            in_use = _providers_in_use(engine)
        elif store.passed:
            yield Result.ok("secrets", "no stored secrets yet")
        else:
            yield Result.skip("secrets", "not checked: the store cannot be read")
    finally:
        if engine is not None:
            engine.dispose()
    yield _guarded("discord", lambda: check_discord(settings.discord_token))
    yield _guarded("web", lambda: check_port(settings.http_host, settings.http_port))
    yield _guarded("oauth", lambda: check_oauth(settings.oauth_providers, in_use))
    yield _guarded("catalogs", check_catalogs)


def run(env: Mapping[str, str], say: Callable[[str], None]) -> int:
    code = 0
    for result in results(env):
        say(result.line())
        if not result.passed:
            code = 2 if result.name == "config" else max(code, 1)
    return code
