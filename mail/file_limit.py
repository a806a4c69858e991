"""The process's open-file limit: raised at start to what the accounts' connections need,
up to the hard limit (a soft limit of 1024 is common), with one line when even the hard
limit is too low."""

from __future__ import annotations

import resource

# Open files: each watched account holds one connection, and a second one while a poll,
# an action or a reconnect overlaps it; the rest is the gateway, the REST pool, the store,
# the web endpoint, DNS lookups and the log.
FILES_PER_ACCOUNT = 2
FILES_BESIDES = 512


def raise_file_limit(accounts: int) -> str | None:
    """Raise the soft RLIMIT_NOFILE (often 1024) to the hard limit, which accounts added
    while running may need too; never lower it. Returns the one line to log when even
    the hard limit is below what `accounts` need, else None."""
    need = accounts * FILES_PER_ACCOUNT + FILES_BESIDES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, need) if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if hard != resource.RLIM_INFINITY and hard < need:
        return (
            f"open files: the hard limit (RLIMIT_NOFILE) is {hard}, but {accounts} accounts "
            f"need {need}; raise it to at least {need} (systemd LimitNOFILE=, docker "
            "--ulimit nofile=, ulimit -Hn) or connections will fail"
        )
    return None
