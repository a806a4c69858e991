"""The bot's web endpoint (aiohttp, which discord.py already depends on): the OAuth2
callback now; /healthz and /metrics belong here too."""
